// The C boundary: the only symbols pam_defender.so exports.
#include <security/pam_modules.h>

#include "pam_defender/module.h"

#define DEFENDER_EXPORT __attribute__((visibility("default")))

extern "C" {

DEFENDER_EXPORT int pam_sm_authenticate(pam_handle_t* pamh, int flags, int argc,
                                        const char** argv) {
  return defender::RunModule(defender::EntryPoint::kAuthenticate, pamh, flags,
                             argc, argv);
}

DEFENDER_EXPORT int pam_sm_setcred(pam_handle_t*, int, int, const char**) {
  return PAM_SUCCESS;
}

DEFENDER_EXPORT int pam_sm_acct_mgmt(pam_handle_t* pamh, int flags, int argc,
                                     const char** argv) {
  return defender::RunModule(defender::EntryPoint::kAccount, pamh, flags, argc,
                             argv);
}

}  // extern "C"
