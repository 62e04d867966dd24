/* common_error.c - text for the LB_E* codes of include/lb_platform.h. */
#include "lb_platform.h"

const char *
lb_strerror(int err)
{
    switch (err) {
    case 0: return "success";
#define LB_ERR_TEXT(name, val, msg) case LB_##name: return msg;
    LB_ERRNO_MAP(LB_ERR_TEXT)
#undef LB_ERR_TEXT
    default: return "system error";
    }
}
