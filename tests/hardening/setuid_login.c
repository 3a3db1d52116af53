/* One login through libpam for a test that makes this program setuid root
 * and runs it as another user (tests/hardening/store_faults_test.cc):
 * pam_start_confdir(CONFDIR, SERVICE, USER), PAM_RHOST RHOST, PAM_TTY
 * "ssh", pam_authenticate answering each hidden prompt with PASSWORD.
 * Prints "auth=RC" and then "ids=RUID/EUID", and each message a module
 * showed as "msg: TEXT", one a line; exits 0 (1 when pam_start fails).
 *
 *   setuid_login CONFDIR SERVICE USER RHOST PASSWORD */
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int Converse(int n, const struct pam_message** msg,
                    struct pam_response** resp, void* data) {
  struct pam_response* r = calloc((size_t)n, sizeof(*r));
  if (r == NULL) return PAM_BUF_ERR;
  for (int i = 0; i < n; ++i) {
    if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF) {
      r[i].resp = strdup((const char*)data);
    } else if (msg[i]->msg_style == PAM_TEXT_INFO ||
               msg[i]->msg_style == PAM_ERROR_MSG) {
      printf("msg: %s\n", msg[i]->msg);
    }
  }
  *resp = r;
  return PAM_SUCCESS;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr,
            "usage: setuid_login CONFDIR SERVICE USER RHOST PASSWORD\n");
    return 2;
  }
  const struct pam_conv conv = {Converse, argv[5]};
  pam_handle_t* pamh = NULL;
  if (pam_start_confdir(argv[2], argv[3], &conv, argv[1], &pamh) !=
      PAM_SUCCESS) {
    return 1;
  }
  pam_set_item(pamh, PAM_RHOST, argv[4]);
  pam_set_item(pamh, PAM_TTY, "ssh");
  const int rc = pam_authenticate(pamh, 0);
  printf("auth=%d\nids=%u/%u\n", rc, (unsigned)getuid(), (unsigned)geteuid());
  pam_end(pamh, rc);
  return 0;
}
