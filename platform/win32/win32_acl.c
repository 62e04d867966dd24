/* win32_acl.c - who may change the service's files. --configure-service
 * gives %ProgramData%\PumpkinLB, its logs folder and the config file
 * protected DACLs (no inheritance from %ProgramData%, which lets Users
 * create files); lb_file_writable_by_others reads a file's owner and DACL
 * back, and its folder's, at every start and reload. */
#include "win32_internal.h"
#include "win32_service.h"

#include <aclapi.h>
#include <sddl.h>

#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

/* NT SERVICE\PumpkinLB: S-1-5-80- and the five little-endian DWORDs of
 * SHA-1(UTF-16LE("PUMPKINLB")). The same derivation gives
 * TrustedInstaller's well-known SID; `sc showsid PumpkinLB` prints it. It
 * is in the service's token once its SID type is unrestricted. */
#define SERVICE_SID L"S-1-5-80-3479311871-3447738773-4106833555-" \
                    L"1091899233-3414575543"
#define TRUSTED_INSTALLER_SID L"S-1-5-80-956008885-3418522649-1831038044-" \
                              L"1853292631-2271478464"

/* Owner Administrators; SYSTEM and Administrators full control; Users
 * (and the service, which must not depend on Users) read and traverse.
 * The logs folder adds Modify (0x1301bf: no WRITE_DAC, no WRITE_OWNER)
 * for the service SID only. */
static const wchar_t *const data_sddl =
    L"O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FRFX;;;BU)"
    L"(A;OICI;FRFX;;;" SERVICE_SID L")";
static const wchar_t *const logs_sddl =
    L"O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FRFX;;;BU)"
    L"(A;OICI;0x1301bf;;;" SERVICE_SID L")";
static const wchar_t *const config_sddl =
    L"O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;BU)(A;;FR;;;" SERVICE_SID L")";

/* Write access to a file, and to a folder the access that replaces or
 * removes what is in it (or the folder itself). */
#define FILE_WRITE_MASK                                                   \
    (FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA |                 \
     FILE_WRITE_ATTRIBUTES | DELETE | WRITE_DAC | WRITE_OWNER |           \
     GENERIC_WRITE | GENERIC_ALL)
#define FOLDER_WRITE_MASK                                                 \
    (FILE_DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER | GENERIC_ALL)
/* Read access to a file's contents, and what can give it (a secret's). */
#define FILE_READ_MASK                                                    \
    (FILE_READ_DATA | GENERIC_READ | GENERIC_ALL | WRITE_DAC | WRITE_OWNER)

static int
apply_sddl(const wchar_t *path, const wchar_t *sddl)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    PSID owner = NULL;
    PACL dacl = NULL;
    BOOL present = FALSE, defaulted = FALSE;
    DWORD rc = ERROR_INVALID_DATA;

    if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl, SDDL_REVISION_1, &sd, NULL))
        rc = GetLastError();
    else if (GetSecurityDescriptorOwner(sd, &owner, &defaulted) &&
             GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted))
        rc = SetNamedSecurityInfoW(
            (LPWSTR)path, SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION |
                PROTECTED_DACL_SECURITY_INFORMATION,
            owner, NULL, dacl, NULL);
    LocalFree(sd);
    if (rc != ERROR_SUCCESS) {
        fwprintf(stderr, L"pumpkinlb: setting the permissions of %ls "
                 L"failed (Windows error %lu)\n", path, (unsigned long)rc);
        return -1;
    }
    return 0;
}

static int
make_folder(const wchar_t *path, const wchar_t *sddl)
{
    DWORD attrs;

    if (!CreateDirectoryW(path, NULL) &&
        ((attrs = GetFileAttributesW(path)) == INVALID_FILE_ATTRIBUTES ||
         !(attrs & FILE_ATTRIBUTE_DIRECTORY))) {
        fwprintf(stderr, L"pumpkinlb: cannot create %ls (Windows error "
                 L"%lu)\n", path, (unsigned long)GetLastError());
        return -1;
    }
    return apply_sddl(path, sddl);
}

/* The MSI ships CFG.default and never owns CFG, so that upgrades and
 * uninstalling leave the admin's edits alone: CFG is made here, once. */
static int
make_config(const wchar_t *cfg)
{
    size_t len = wcslen(cfg) + 9;
    wchar_t *def = malloc(len * sizeof(*def));
    int rc = 0;

    if (def == NULL)
        return -1;
    swprintf(def, len, L"%ls.default", cfg);
    if (GetFileAttributesW(cfg) != INVALID_FILE_ATTRIBUTES) {
        rc = apply_sddl(cfg, config_sddl);
    } else if (GetFileAttributesW(def) == INVALID_FILE_ATTRIBUTES) {
        fwprintf(stderr, L"pumpkinlb: warning: %ls does not exist yet; the "
                 L"service will not start without it\n", cfg);
    } else if (!CopyFileW(def, cfg, TRUE)) {
        fwprintf(stderr, L"pumpkinlb: cannot create %ls from %ls (Windows "
                 L"error %lu)\n", cfg, def, (unsigned long)GetLastError());
        rc = -1;
    } else {
        wprintf(L"  created %ls from its .default\n", cfg);
        rc = apply_sddl(cfg, config_sddl);
    }
    free(def);
    return rc;
}

int
lb__win_secure_files(const wchar_t *cfg)
{
    wchar_t *data = lb__win_data_path(L"logs");
    int rc = -1;

    if (data != NULL) {
        wchar_t *sep = wcsrchr(data, L'\\');
        *sep = L'\0';
        rc = make_folder(data, data_sddl);
        *sep = L'\\';
        if (make_folder(data, logs_sddl) != 0)
            rc = -1;
        if (make_config(cfg) != 0)
            rc = -1;
        if (rc == 0)
            wprintf(L"  permissions: its folder and the config: SYSTEM "
                    L"and Administrators full control, Users read; %ls: "
                    L"writable by NT SERVICE\\PumpkinLB only\n", data);
    }
    free(data);
    return rc;
}

/* ---- lb_file_writable_by_others ---- */

static int
sid_is(PSID sid, const wchar_t *text)
{
    PSID other = NULL;
    int same;

    if (!ConvertStringSidToSidW(text, &other))
        return 0;
    same = EqualSid(sid, other);
    LocalFree(other);
    return same;
}

/* The token's user, unless it is an account many services share. */
static int
is_own_user(PSID sid)
{
    HANDLE token;
    union {
        TOKEN_USER user;
        char bytes[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
    } u;
    DWORD n;
    int same = 0;

    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
        return 0;
    if (GetTokenInformation(token, TokenUser, &u, sizeof(u), &n))
        same = EqualSid(sid, u.user.User.Sid) &&
               !IsWellKnownSid(sid, WinLocalServiceSid) &&
               !IsWellKnownSid(sid, WinNetworkServiceSid);
    CloseHandle(token);
    return same;
}

static int
trusted(PSID sid)
{
    return IsWellKnownSid(sid, WinLocalSystemSid) ||
           IsWellKnownSid(sid, WinBuiltinAdministratorsSid) ||
           sid_is(sid, TRUSTED_INSTALLER_SID) || sid_is(sid, SERVICE_SID) ||
           is_own_user(sid);
}

/* "BUILTIN\Users (S-1-5-32-545)" in UTF-8, as the core logs it. */
static void
describe(PSID sid, char *out, size_t size)
{
    wchar_t name[256], domain[256], *text = NULL;
    DWORD nn = 256, dn = 256;
    SID_NAME_USE use;
    char sname[600] = "", ssid[200] = "?";

    if (LookupAccountSidW(NULL, sid, name, &nn, domain, &dn, &use)) {
        wchar_t full[520];
        swprintf(full, 520, dn && domain[0] ? L"%ls\\%ls " : L"%ls%ls ",
                 domain, name);
        WideCharToMultiByte(CP_UTF8, 0, full, -1, sname, sizeof(sname),
                            NULL, NULL);
    }
    if (ConvertSidToStringSidW(sid, &text)) {
        WideCharToMultiByte(CP_UTF8, 0, text, -1, ssid, sizeof(ssid), NULL,
                            NULL);
        LocalFree(text);
    }
    snprintf(out, size, "%s(%s)", sname, ssid);
}

/* The first untrusted SID that owns path or is allowed mask on it. */
static PSID
first_untrusted(PACL dacl, PSID owner, DWORD mask)
{
    ACL_SIZE_INFORMATION info;

    if (owner != NULL && !trusted(owner))
        return owner;
    if (!GetAclInformation(dacl, &info, sizeof(info), AclSizeInformation))
        return NULL;
    for (DWORD i = 0; i < info.AceCount; i++) {
        ACCESS_ALLOWED_ACE *ace;
        PSID sid;

        if (!GetAce(dacl, i, (void **)&ace) ||
            ace->Header.AceType != ACCESS_ALLOWED_ACE_TYPE ||
            (ace->Header.AceFlags & INHERIT_ONLY_ACE) ||
            !(ace->Mask & mask))
            continue;
        sid = (PSID)&ace->SidStart;
        /* S-1-3-4, OWNER RIGHTS, stands for the owner. */
        if (!trusted(sid) &&
            !(sid_is(sid, L"S-1-3-4") && owner != NULL && trusted(owner)))
            return sid;
    }
    return NULL;
}

/* 1 if someone untrusted can write path (is_folder: replace what is in
 * it); who and how in why. A NULL DACL lets everyone in. */
static int
check_path(const wchar_t *path, int is_folder, char *why, size_t whylen)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    PSID owner = NULL, who;
    PACL dacl = NULL;
    char name[800];
    int found = 0;

    if (GetNamedSecurityInfoW(path, SE_FILE_OBJECT,
                              OWNER_SECURITY_INFORMATION |
                                  DACL_SECURITY_INFORMATION,
                              &owner, NULL, &dacl, NULL, &sd) != 0)
        return 0; /* cannot tell; a missing file is reported elsewhere */
    if (dacl == NULL) {
        snprintf(why, whylen, "has no access list%s: everyone can %s it",
                 is_folder ? " on its folder" : "",
                 is_folder ? "replace" : "write");
        found = 1;
    } else if ((who = first_untrusted(dacl, owner,
                                      is_folder ? FOLDER_WRITE_MASK
                                                : FILE_WRITE_MASK))) {
        describe(who, name, sizeof(name));
        snprintf(why, whylen, "%s by %s", is_folder
                 ? "can be replaced through its folder" : "can be written",
                 name);
        found = 1;
    }
    LocalFree(sd);
    return found;
}

int
lb_file_writable_by_others(const char *path, char *why, size_t whylen)
{
    wchar_t wpath[MAX_PATH], *folder, *sep;
    int found = 0;
    size_t len;

    if (whylen > 0)
        why[0] = '\0';
    if (MultiByteToWideChar(CP_ACP, 0, path, -1, wpath, MAX_PATH) <= 0 ||
        (folder = _wfullpath(NULL, wpath, 0)) == NULL)
        return 0;
    found = check_path(folder, 0, why, whylen);
    sep = wcsrchr(folder, L'\\');
    if (!found && sep != NULL && sep > folder) {
        sep[sep[-1] == L':' ? 1 : 0] = L'\0'; /* C:\x.cfg: C:\ */
        found = check_path(folder, 1, why, whylen);
    }
    free(folder);
    len = strlen(why);
    if (found && len + 1 < whylen)
        snprintf(why + len, whylen - len, " (leave write access to "
                 "SYSTEM and Administrators only: README, Windows, "
                 "Permissions)");
    return found;
}

/* ---- lb_file_acl_readable_by_others ---- */

int
lb_file_acl_readable_by_others(const char *path, char *why, size_t whylen)
{
    wchar_t wpath[MAX_PATH];
    PSECURITY_DESCRIPTOR sd = NULL;
    PSID owner = NULL, who;
    PACL dacl = NULL;
    char name[800];
    int found = 0;

    if (whylen > 0)
        why[0] = '\0';
    if (MultiByteToWideChar(CP_ACP, 0, path, -1, wpath, MAX_PATH) <= 0 ||
        GetNamedSecurityInfoW(wpath, SE_FILE_OBJECT,
                              OWNER_SECURITY_INFORMATION |
                                  DACL_SECURITY_INFORMATION,
                              &owner, NULL, &dacl, NULL, &sd) != 0)
        return 0; /* cannot tell; reading it says what is wrong */
    if (dacl == NULL) {
        snprintf(why, whylen, "has no access list: everyone can read it");
        found = 1;
    } else if ((who = first_untrusted(dacl, owner, FILE_READ_MASK))) {
        describe(who, name, sizeof(name));
        snprintf(why, whylen, "can be read by %s", name);
        found = 1;
    }
    LocalFree(sd);
    return found;
}
