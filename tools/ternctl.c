/* ternctl.c -- the administration tool: creates, deletes and lists
 * accounts and changes passwords, in the store named by ternd's
 * configuration file. It may run while ternd runs: both open the same
 * SQLite file (WAL mode, busy timeout).
 *
 * Accounts are bare JIDs with a localpart on a configured host, canonical
 * as RFC 7622 / tn_jid_parse make them. Passwords are SASLprep'd (RFC 4013)
 * and turned into SCRAM-SHA-1 and SCRAM-SHA-256 credentials (RFC 5802,
 * RFC 7677); the password itself is never stored. A password given as "-"
 * is read from standard input, which keeps it out of the process list.
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/config.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xmpp/jid.h"
#include "xmpp/scram.h"

#define CTL_DEFAULT_CONFIG "var/tern.yaml" /* what make run creates */
#define CTL_MAX_PASSWORD 1023

static const char ctl_usage_text[] =
    "usage: ternctl [-c FILE] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  adduser JID PASSWORD   create the account JID (user@host)\n"
    "  deluser JID            delete the account JID\n"
    "  passwd JID PASSWORD    set a new password for the account JID\n"
    "  users DOMAIN           list the accounts of DOMAIN, one per line\n"
    "\n"
    "options:\n"
    "  -c FILE   configuration file (default " CTL_DEFAULT_CONFIG ")\n"
    "  -h        show this help\n"
    "\n"
    "A PASSWORD of '-' is read from the first line of standard input.\n";

typedef struct ctl {
    uv_loop_t loop;
    tn_config_t cfg;
    int have_cfg;
    tn_store_t *st;
    int done;     /* the callback has run */
    int status;   /* its status */
    char **users; /* owned copy of a list result */
    size_t nusers;
} ctl_t;

static void ctl_usage(FILE *out)
{
    fputs(ctl_usage_text, out);
}

/* "a, b, c" for error messages; fresh string. */
static char *ctl_host_list(const tn_config_t *cfg)
{
    size_t len = 1;
    for (size_t i = 0; i < cfg->nhosts; i++)
        len += strlen(cfg->hosts[i]) + 2;
    char *s = tn_malloc(len);
    s[0] = '\0';
    for (size_t i = 0; i < cfg->nhosts; i++) {
        if (i)
            strcat(s, ", ");
        strcat(s, cfg->hosts[i]);
    }
    return s;
}

static int ctl_not_hosted(const tn_config_t *cfg, const char *what,
                          const char *arg)
{
    char *hosts = ctl_host_list(cfg);
    fprintf(stderr, "ternctl: %s '%s' is not hosted here (hosts: %s)\n", what,
            arg, hosts);
    tn_free(hosts);
    return -1;
}

/* Parses arg as the bare JID of an account on a configured host. Returns
 * 0, or -1 after printing why not. */
static int ctl_account_jid(const tn_config_t *cfg, const char *arg,
                           tn_jid_t *jid)
{
    if (tn_jid_parse(arg, jid) != 0) {
        fprintf(stderr, "ternctl: '%s' is not a valid JID\n", arg);
        return -1;
    }
    if (!jid->node) {
        fprintf(stderr,
                "ternctl: JID '%s' has no localpart (expected "
                "user@host)\n",
                arg);
        goto fail;
    }
    if (jid->resource) {
        fprintf(stderr,
                "ternctl: JID '%s' is not a bare JID (remove the "
                "/resource)\n",
                arg);
        goto fail;
    }
    if (!tn_config_is_host(cfg, jid->domain)) {
        ctl_not_hosted(cfg, "JID", arg);
        goto fail;
    }
    return 0;
fail:
    tn_jid_release(jid);
    return -1;
}

/* Reads one line from stdin for a password of "-". Fresh string or NULL. */
static char *ctl_read_password(void)
{
    char line[CTL_MAX_PASSWORD + 2];
    if (!fgets(line, sizeof line, stdin))
        return tn_strdup("");
    size_t n = strcspn(line, "\r\n");
    if (n > CTL_MAX_PASSWORD) {
        explicit_bzero(line, sizeof line);
        return NULL;
    }
    char *pw = tn_strndup(line, n);
    explicit_bzero(line, sizeof line);
    return pw;
}

static void ctl_free_password(char *pw)
{
    if (pw) {
        explicit_bzero(pw, strlen(pw));
        tn_free(pw);
    }
}

/* Turns the password argument into credentials for both hashes. Wipes the
 * argument in argv so that it leaves the process list early. Returns 0, or
 * -1 after printing why not. */
static int ctl_credentials(char *arg, tn_account_t *acct)
{
    char *pw = strcmp(arg, "-") == 0 ? ctl_read_password() : tn_strdup(arg);
    explicit_bzero(arg, strlen(arg));
    int rc = -1;
    if (!pw) {
        fprintf(stderr, "ternctl: password too long (at most %d bytes)\n",
                CTL_MAX_PASSWORD);
        return -1;
    }
    if (!*pw) {
        fprintf(stderr, "ternctl: the password must not be empty\n");
        goto out;
    }
    char *prepped = tn_saslprep(pw);
    int ok = prepped && *prepped;
    ctl_free_password(prepped);
    if (!ok) {
        fprintf(stderr, "ternctl: the password is not acceptable (SASLprep, "
                        "RFC 4013, rejects it or maps it to nothing)\n");
        goto out;
    }
    int e = tn_scram_derive_new(TN_SCRAM_SHA1, pw, &acct->sha1);
    if (e == 0)
        e = tn_scram_derive_new(TN_SCRAM_SHA256, pw, &acct->sha256);
    if (e != 0) {
        fprintf(stderr, "ternctl: cannot derive credentials: %s\n",
                tn_strerror(e));
        goto out;
    }
    rc = 0;
out:
    ctl_free_password(pw);
    return rc;
}

static void ctl_done_cb(void *ud, int status)
{
    ctl_t *c = ud;
    c->done = 1;
    c->status = status;
}

static void ctl_list_cb(void *ud, int status, char **users, size_t n)
{
    ctl_t *c = ud;
    c->done = 1;
    c->status = status;
    c->users = tn_calloc(n ? n : 1, sizeof *c->users);
    for (size_t i = 0; i < n; i++)
        c->users[i] = tn_strdup(users[i]);
    c->nusers = n;
}

/* Runs the loop until the one request made has called back. Returns its
 * status, or the immediate error rc of the request. */
static int ctl_wait(ctl_t *c, int rc)
{
    if (rc != 0)
        return rc;
    /* The store holds the loop only while work is outstanding, so this
     * returns once the callback has run. */
    uv_run(&c->loop, UV_RUN_DEFAULT);
    return c->done ? c->status : TN_EIO;
}

static int ctl_open(ctl_t *c)
{
    char *err = NULL;
    c->st = tn_store_open(&c->loop, c->cfg.storage_backend, c->cfg.storage_path,
                          &err);
    if (!c->st) {
        fprintf(stderr, "ternctl: %s\n", err ? err : "cannot open store");
        tn_free(err);
        return -1;
    }
    return 0;
}

static void ctl_store_error(int status, const char *jid)
{
    if (status == TN_EEXIST)
        fprintf(stderr, "ternctl: user %s already exists\n", jid);
    else if (status == TN_ENOTFOUND)
        fprintf(stderr, "ternctl: no such user %s\n", jid);
    else
        fprintf(stderr, "ternctl: storage error for %s: %s\n", jid,
                tn_strerror(status));
}

/* adduser and passwd. */
static int ctl_set_password(ctl_t *c, char **args, int create)
{
    tn_jid_t jid;
    tn_account_t acct;
    memset(&acct, 0, sizeof acct);
    if (ctl_account_jid(&c->cfg, args[0], &jid) != 0) {
        explicit_bzero(args[1], strlen(args[1]));
        return 1;
    }
    int rc = 1;
    if (ctl_credentials(args[1], &acct) != 0 || ctl_open(c) != 0)
        goto out;
    acct.user = jid.node;
    acct.host = jid.domain;
    int status = ctl_wait(
        c, create ? tn_store_account_create(c->st, &acct, ctl_done_cb, c)
                  : tn_store_account_update(c->st, &acct, ctl_done_cb, c));
    if (status != 0) {
        ctl_store_error(status, jid.bare);
        goto out;
    }
    if (create)
        printf("created %s\n", jid.bare);
    else
        printf("changed the password of %s\n", jid.bare);
    rc = 0;
out:
    explicit_bzero(&acct, sizeof acct);
    tn_jid_release(&jid);
    return rc;
}

static int ctl_deluser(ctl_t *c, char **args)
{
    tn_jid_t jid;
    if (ctl_account_jid(&c->cfg, args[0], &jid) != 0)
        return 1;
    int rc = 1;
    if (ctl_open(c) != 0)
        goto out;
    int status = ctl_wait(c, tn_store_account_delete(c->st, jid.domain,
                                                     jid.node, ctl_done_cb, c));
    if (status != 0) {
        ctl_store_error(status, jid.bare);
        goto out;
    }
    printf("deleted %s\n", jid.bare);
    rc = 0;
out:
    tn_jid_release(&jid);
    return rc;
}

static int ctl_users(ctl_t *c, char **args)
{
    tn_jid_t jid;
    if (tn_jid_parse(args[0], &jid) != 0 || jid.node || jid.resource) {
        fprintf(stderr, "ternctl: '%s' is not a domain\n", args[0]);
        tn_jid_release(&jid);
        return 1;
    }
    int rc = 1;
    if (!tn_config_is_host(&c->cfg, jid.domain)) {
        ctl_not_hosted(&c->cfg, "domain", args[0]);
        goto out;
    }
    if (ctl_open(c) != 0)
        goto out;
    int status =
        ctl_wait(c, tn_store_account_list(c->st, jid.domain, ctl_list_cb, c));
    if (status != 0) {
        fprintf(stderr, "ternctl: storage error: %s\n", tn_strerror(status));
        goto out;
    }
    /* The store returns localparts in byte order, which is also the order
     * of the bare JIDs since the domain is the same. */
    for (size_t i = 0; i < c->nusers; i++)
        printf("%s@%s\n", c->users[i], jid.domain);
    rc = 0;
out:
    tn_jid_release(&jid);
    return rc;
}

static const struct {
    const char *name;
    int nargs;
} ctl_commands[] = {
    {"adduser", 2},
    {"deluser", 1},
    {"passwd", 2},
    {"users", 1},
};

int main(int argc, char **argv)
{
    const char *config = CTL_DEFAULT_CONFIG;
    int opt;
    opterr = 0;
    while ((opt = getopt(argc, argv, "+c:h")) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'h':
            ctl_usage(stdout);
            return 0;
        default:
            if (optopt == 'c')
                fprintf(stderr, "ternctl: -c needs a FILE\n");
            else
                fprintf(stderr, "ternctl: unknown option '-%c'\n", optopt);
            ctl_usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        ctl_usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    size_t ci;
    for (ci = 0; ci < sizeof ctl_commands / sizeof *ctl_commands; ci++)
        if (strcmp(cmd, ctl_commands[ci].name) == 0)
            break;
    if (ci == sizeof ctl_commands / sizeof *ctl_commands) {
        fprintf(stderr, "ternctl: unknown command '%s'\n", cmd);
        ctl_usage(stderr);
        return 2;
    }
    if (nargs != ctl_commands[ci].nargs) {
        fprintf(stderr, "ternctl: %s takes %d argument%s\n", cmd,
                ctl_commands[ci].nargs, ctl_commands[ci].nargs > 1 ? "s" : "");
        ctl_usage(stderr);
        return 2;
    }

    ctl_t c;
    memset(&c, 0, sizeof c);
    char *err = NULL;
    if (tn_config_load(config, &c.cfg, &err) != 0) {
        fprintf(stderr, "ternctl: %s\n", err ? err : "cannot load config");
        tn_free(err);
        return 1;
    }
    /* Lifecycle chatter (migrations) is for the daemon's log; a tool
     * reports warnings and errors only. */
    tn_log_set_level(c.cfg.log_level > TN_LOG_WARN ? c.cfg.log_level
                                                   : TN_LOG_WARN);
    int rc = uv_loop_init(&c.loop);
    if (rc != 0) {
        fprintf(stderr, "ternctl: cannot start event loop: %s\n",
                uv_strerror(rc));
        tn_config_release(&c.cfg);
        return 1;
    }

    if (strcmp(cmd, "adduser") == 0)
        rc = ctl_set_password(&c, args, 1);
    else if (strcmp(cmd, "passwd") == 0)
        rc = ctl_set_password(&c, args, 0);
    else if (strcmp(cmd, "deluser") == 0)
        rc = ctl_deluser(&c, args);
    else
        rc = ctl_users(&c, args);

    if (c.st) {
        tn_store_close(c.st);
        uv_run(&c.loop, UV_RUN_DEFAULT); /* frees the store */
    }
    if (uv_loop_close(&c.loop) != 0)
        fprintf(stderr, "ternctl: event loop still busy at exit\n");
    for (size_t i = 0; i < c.nusers; i++)
        tn_free(c.users[i]);
    tn_free(c.users);
    tn_config_release(&c.cfg);
    if (fflush(stdout) != 0 && rc == 0) {
        perror("ternctl: stdout");
        rc = 1;
    }
    return rc;
}
