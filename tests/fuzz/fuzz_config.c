/* fuzz_config.c -- libFuzzer target for tn_config_parse (core/config.c on
 * libyaml).
 *
 * The input is parsed as a configuration file. Oracles: a failure gives
 * TN_EINVAL, a message that starts with the file name, and a zeroed
 * *cfg; a success gives no message, at least one host, every host
 * canonical (tn_jid_nameprep gives it back unchanged), at least one
 * listener with a port in 1..65535, and values within the documented
 * bounds. */
#include <string.h>

#include "core/config.h"
#include "targets.h"
#include "util/err.h"
#include "util/mem.h"
#include "xmpp/jid.h"

#define CONFIG_NAME "fuzz.yaml"

static int config_is_zero(const tn_config_t *cfg)
{
    static const tn_config_t zero;
    return memcmp(cfg, &zero, sizeof zero) == 0;
}

static void config_check_ok(const tn_config_t *cfg)
{
    if (!cfg->path || strcmp(cfg->path, CONFIG_NAME) != 0)
        fuzz_fail("config", "path not set");
    if (cfg->nhosts == 0 || !cfg->hosts)
        fuzz_fail("config", "no hosts");
    for (size_t i = 0; i < cfg->nhosts; i++) {
        char *again = tn_jid_nameprep(cfg->hosts[i]);
        if (!again || strcmp(again, cfg->hosts[i]) != 0)
            fuzz_fail("config", "host not canonical");
        tn_free(again);
        if (!tn_config_is_host(cfg, cfg->hosts[i]))
            fuzz_fail("config", "tn_config_is_host misses a host");
    }
    if (!cfg->tls_cert || !*cfg->tls_cert || !cfg->tls_key || !*cfg->tls_key)
        fuzz_fail("config", "tls paths missing");
    if (!cfg->storage_backend || !cfg->storage_path)
        fuzz_fail("config", "storage defaults missing");
    if (cfg->nlisten == 0 || !cfg->listen)
        fuzz_fail("config", "no listeners");
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const tn_listen_cfg_t *l = &cfg->listen[i];
        if (!l->ip || l->port < 1 || l->port > 65535 ||
            (l->service != TN_SVC_C2S && l->service != TN_SVC_HTTP &&
             l->service != TN_SVC_S2S) ||
            l->tls < TN_TLS_STARTTLS ||
            l->tls > TN_TLS_NONE)
            fuzz_fail("config", "bad listener");
    }
    if (cfg->max_stanza_size < 1024 || cfg->max_stanza_size > 16u << 20 ||
        cfg->max_preauth_stanza < 512 || cfg->max_preauth_stanza > 1u << 20 ||
        cfg->preauth_timeout < 1 || cfg->preauth_timeout > 3600 ||
        cfg->auth_attempts < 1 || cfg->auth_attempts > 10 ||
        cfg->max_out_queue < 64u << 10 || cfg->max_out_queue > 1u << 30 ||
        cfg->auth_ip_failures > 100000 || cfg->auth_ip_window < 1 ||
        cfg->auth_ip_window > 86400 ||
        (cfg->require_tls != 0 && cfg->require_tls != 1))
        fuzz_fail("config", "value out of bounds");
    for (size_t i = 0; i < cfg->nmodules; i++)
        if (!cfg->modules[i] || !*cfg->modules[i])
            fuzz_fail("config", "empty module name");
}

int fuzz_config_one(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so that ASan catches reads past it. */
    char *text = tn_malloc(size ? size : 1);
    memcpy(text, data, size);
    tn_config_t cfg;
    char *err = NULL;
    int rc = tn_config_parse(CONFIG_NAME, text, size, &cfg, &err);
    if (rc == 0) {
        if (err)
            fuzz_fail("config", "message on success");
        config_check_ok(&cfg);
        tn_config_release(&cfg);
        if (!config_is_zero(&cfg))
            fuzz_fail("config", "release did not zero");
    } else {
        if (rc != TN_EINVAL)
            fuzz_fail("config", "unexpected error code");
        if (!err || strncmp(err, CONFIG_NAME ":", strlen(CONFIG_NAME) + 1))
            fuzz_fail("config", "error message without the file name");
        if (!config_is_zero(&cfg))
            fuzz_fail("config", "failure left *cfg filled");
    }
    tn_free(err);
    tn_free(text);
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_config_one(data, size);
}
#endif
