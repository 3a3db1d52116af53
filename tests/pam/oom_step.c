/* One PAM authentication for tests/pam/oom_test.py: pam_start_confdir
 * (CONFDIR, SERVICE, USER), PAM_RHOST RHOST, pam_authenticate with
 * the password "correct-horse"; prints pam_authenticate's result as a
 * number and exits 0 (1 when pam_start fails).
 *
 *   oom_step CONFDIR SERVICE USER RHOST */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int Converse(int n, const struct pam_message** msg,
                    struct pam_response** resp, void* data) {
  (void)data;
  struct pam_response* r = calloc((size_t)n, sizeof(*r));
  if (r == NULL) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
      r[i].resp = strdup("correct-horse");
    }
  }
  *resp = r;
  return PAM_SUCCESS;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: oom_step CONFDIR SERVICE USER RHOST\n");
    return 2;
  }
  const struct pam_conv conv = {Converse, NULL};
  pam_handle_t* pamh = NULL;
  if (pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh) !=
      PAM_SUCCESS) {
    return 1;
  }
  pam_set_item(pamh, PAM_RHOST, argv[4]);
  const int rc = pam_authenticate(pamh, 0);
  printf("%d\n", rc);
  pam_end(pamh, rc);
  return 0;
}
