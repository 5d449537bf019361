/* sub.c -- RFC 6121 presence subscription state machine (Appendix A, with
 * the pre-approvals of 3.4), as one table: 12 states (the 9 of A.1 plus
 * "None", "None + Pending Out" and "To" with the 'approved' flag, the only
 * states where 3.4.2 lets a pre-approval exist) by 8 events. Each cell is
 * the new state and what to do with the stanza. No I/O; roster storage,
 * pushes and presence broadcast stay with the caller (see sub.h).
 *
 * Numbering: in RFC 6121, A.2 is outbound and A.3 inbound. Where the RFC
 * leaves a choice we follow Prosody (mod_presence.lua, rostermanager.lua);
 * the Prosody versions we read do not implement pre-approval, so those
 * cells follow the RFC's SHOULD (as Tigase does). Each such choice is
 * commented at its table below. */
#include "xmpp/sub.h"

#include <stddef.h>
#include <string.h>

#include "util/err.h"

/* Table states. The first nine are A.1 in its order; the _A ones carry the
 * pre-approval flag. */
enum {
    SUB_N,    /* "None" */
    SUB_NPO,  /* "None + Pending Out" */
    SUB_NPI,  /* "None + Pending In" */
    SUB_NPOI, /* "None + Pending Out/In" */
    SUB_T,    /* "To" */
    SUB_TPI,  /* "To + Pending In" */
    SUB_F,    /* "From" */
    SUB_FPO,  /* "From + Pending Out" */
    SUB_B,    /* "Both" */
    SUB_NA,   /* "None" + approved */
    SUB_NPOA, /* "None + Pending Out" + approved */
    SUB_TA,   /* "To" + approved */
    SUB_NSTATES
};

/* Cell flags, one per tn_sub_result_t action bit. */
enum {
    SUB_PASS = 1,    /* pass: route (outbound) or deliver (inbound) */
    SUB_AUTO = 2,    /* auto_subscribed */
    SUB_AVAIL = 4,   /* send_available */
    SUB_UNAVAIL = 8, /* send_unavailable */
};

#define SUB_NEVENTS (TN_SUB_IN_UNSUBSCRIBED + 1)

struct sub_cell {
    unsigned char next;  /* SUB_* state */
    unsigned char flags; /* SUB_PASS, SUB_AUTO, SUB_AVAIL, SUB_UNAVAIL */
};

/* clang-format off */
static const tn_sub_state_t sub_states[SUB_NSTATES] = {
    [SUB_N] = {TN_SUB_NONE, 0, 0, 0},
    [SUB_NPO] = {TN_SUB_NONE, 1, 0, 0},
    [SUB_NPI] = {TN_SUB_NONE, 0, 1, 0},
    [SUB_NPOI] = {TN_SUB_NONE, 1, 1, 0},
    [SUB_T] = {TN_SUB_TO, 0, 0, 0},
    [SUB_TPI] = {TN_SUB_TO, 0, 1, 0},
    [SUB_F] = {TN_SUB_FROM, 0, 0, 0},
    [SUB_FPO] = {TN_SUB_FROM, 1, 0, 0},
    [SUB_B] = {TN_SUB_BOTH, 0, 0, 0},
    [SUB_NA] = {TN_SUB_NONE, 0, 0, 1},
    [SUB_NPOA] = {TN_SUB_NONE, 1, 0, 1},
    [SUB_TA] = {TN_SUB_TO, 0, 0, 1},
};

static const struct sub_cell sub_table[SUB_NEVENTS][SUB_NSTATES] = {
    /* A.2.1 outbound subscribe: routed in every state. From 'To' the
     * contact's server auto-replies 'subscribed' (3.1.3 step 2), which is
     * how a user repairs a subscription the contact's server lost; Prosody
     * routes it unconditionally too. A pre-approval is kept. */
    [TN_SUB_OUT_SUBSCRIBE] = {
        [SUB_N]    = {SUB_NPO,  SUB_PASS},
        [SUB_NPO]  = {SUB_NPO,  SUB_PASS},
        [SUB_NPI]  = {SUB_NPOI, SUB_PASS},
        [SUB_NPOI] = {SUB_NPOI, SUB_PASS},
        [SUB_T]    = {SUB_T,    SUB_PASS},
        [SUB_TPI]  = {SUB_TPI,  SUB_PASS},
        [SUB_F]    = {SUB_FPO,  SUB_PASS},
        [SUB_FPO]  = {SUB_FPO,  SUB_PASS},
        [SUB_B]    = {SUB_B,    SUB_PASS},
        [SUB_NA]   = {SUB_NPOA, SUB_PASS},
        [SUB_NPOA] = {SUB_NPOA, SUB_PASS},
        [SUB_TA]   = {SUB_TA,   SUB_PASS},
    },
    /* A.2.3 outbound subscribed, with 3.4.2: with pending-in it approves
     * (3.1.5: route, push, send current presence); from "None", "None +
     * Pending Out" and "To" it records a pre-approval and MUST NOT be
     * routed; with 'from' already it is silently ignored (3.4.2 step 1).
     * Older Prosody routes it anyway; we keep to the RFC's MUST NOT. */
    [TN_SUB_OUT_SUBSCRIBED] = {
        [SUB_N]    = {SUB_NA,   0},
        [SUB_NPO]  = {SUB_NPOA, 0},
        [SUB_NPI]  = {SUB_F,    SUB_PASS | SUB_AVAIL},
        [SUB_NPOI] = {SUB_FPO,  SUB_PASS | SUB_AVAIL},
        [SUB_T]    = {SUB_TA,   0},
        [SUB_TPI]  = {SUB_B,    SUB_PASS | SUB_AVAIL},
        [SUB_F]    = {SUB_F,    0},
        [SUB_FPO]  = {SUB_FPO,  0},
        [SUB_B]    = {SUB_B,    0},
        [SUB_NA]   = {SUB_NA,   0},
        [SUB_NPOA] = {SUB_NPOA, 0},
        [SUB_TA]   = {SUB_TA,   0},
    },
    /* A.2.2 outbound unsubscribe: routed in every state (3.3.2), so a
     * contact whose server kept a stale subscription still hears of it;
     * Prosody routes unconditionally as well. A pre-approval is about the
     * other direction and is kept. */
    [TN_SUB_OUT_UNSUBSCRIBE] = {
        [SUB_N]    = {SUB_N,    SUB_PASS},
        [SUB_NPO]  = {SUB_N,    SUB_PASS},
        [SUB_NPI]  = {SUB_NPI,  SUB_PASS},
        [SUB_NPOI] = {SUB_NPI,  SUB_PASS},
        [SUB_T]    = {SUB_N,    SUB_PASS},
        [SUB_TPI]  = {SUB_NPI,  SUB_PASS},
        [SUB_F]    = {SUB_F,    SUB_PASS},
        [SUB_FPO]  = {SUB_F,    SUB_PASS},
        [SUB_B]    = {SUB_F,    SUB_PASS},
        [SUB_NA]   = {SUB_NA,   SUB_PASS},
        [SUB_NPOA] = {SUB_NA,   SUB_PASS},
        [SUB_TA]   = {SUB_NA,   SUB_PASS},
    },
    /* A.2.4 outbound unsubscribed, with 3.2.2: routed only when it denies a
     * pending request or cancels 'from' (then unavailable first); with a
     * pre-approval it only removes it and MUST NOT be routed (3.2.2 step
     * 2). Prosody routes only in the same cases. */
    [TN_SUB_OUT_UNSUBSCRIBED] = {
        [SUB_N]    = {SUB_N,    0},
        [SUB_NPO]  = {SUB_NPO,  0},
        [SUB_NPI]  = {SUB_N,    SUB_PASS},
        [SUB_NPOI] = {SUB_NPO,  SUB_PASS},
        [SUB_T]    = {SUB_T,    0},
        [SUB_TPI]  = {SUB_T,    SUB_PASS},
        [SUB_F]    = {SUB_N,    SUB_PASS | SUB_UNAVAIL},
        [SUB_FPO]  = {SUB_NPO,  SUB_PASS | SUB_UNAVAIL},
        [SUB_B]    = {SUB_T,    SUB_PASS | SUB_UNAVAIL},
        [SUB_NA]   = {SUB_N,    0},
        [SUB_NPOA] = {SUB_NPO,  0},
        [SUB_TA]   = {SUB_T,    0},
    },
    /* A.3.1 inbound subscribe. A repeated request while one is pending is
     * not delivered again. With 'from' already (the "*" rows) the server
     * auto-replies 'subscribed' (3.1.3 step 2); like Prosody we also send
     * the user's presence, since the contact evidently lost its state.
     * With a pre-approval the server SHOULD auto-approve (3.1.3, 3.4):
     * we do, granting 'from' (so presence goes out as after 3.1.5) and
     * consuming the approval. */
    [TN_SUB_IN_SUBSCRIBE] = {
        [SUB_N]    = {SUB_NPI,  SUB_PASS},
        [SUB_NPO]  = {SUB_NPOI, SUB_PASS},
        [SUB_NPI]  = {SUB_NPI,  0},
        [SUB_NPOI] = {SUB_NPOI, 0},
        [SUB_T]    = {SUB_TPI,  SUB_PASS},
        [SUB_TPI]  = {SUB_TPI,  0},
        [SUB_F]    = {SUB_F,    SUB_AUTO | SUB_AVAIL},
        [SUB_FPO]  = {SUB_FPO,  SUB_AUTO | SUB_AVAIL},
        [SUB_B]    = {SUB_B,    SUB_AUTO | SUB_AVAIL},
        [SUB_NA]   = {SUB_F,    SUB_AUTO | SUB_AVAIL},
        [SUB_NPOA] = {SUB_FPO,  SUB_AUTO | SUB_AVAIL},
        [SUB_TA]   = {SUB_B,    SUB_AUTO | SUB_AVAIL},
    },
    /* A.3.3 inbound subscribed: only an answer to our pending request
     * counts (3.1.6); anything else is ignored, not delivered. */
    [TN_SUB_IN_SUBSCRIBED] = {
        [SUB_N]    = {SUB_N,    0},
        [SUB_NPO]  = {SUB_T,    SUB_PASS},
        [SUB_NPI]  = {SUB_NPI,  0},
        [SUB_NPOI] = {SUB_TPI,  SUB_PASS},
        [SUB_T]    = {SUB_T,    0},
        [SUB_TPI]  = {SUB_TPI,  0},
        [SUB_F]    = {SUB_F,    0},
        [SUB_FPO]  = {SUB_B,    SUB_PASS},
        [SUB_B]    = {SUB_B,    0},
        [SUB_NA]   = {SUB_NA,   0},
        [SUB_NPOA] = {SUB_TA,   SUB_PASS},
        [SUB_TA]   = {SUB_TA,   0},
    },
    /* A.3.2 inbound unsubscribe: delivered when it withdraws a pending
     * request or cancels 'from'; cancelling 'from' also sends unavailable
     * from the user's resources (3.3.3 step 3, a MUST that Prosody skips).
     * A pre-approval is kept: it concerns a request not yet made. */
    [TN_SUB_IN_UNSUBSCRIBE] = {
        [SUB_N]    = {SUB_N,    0},
        [SUB_NPO]  = {SUB_NPO,  0},
        [SUB_NPI]  = {SUB_N,    SUB_PASS},
        [SUB_NPOI] = {SUB_NPO,  SUB_PASS},
        [SUB_T]    = {SUB_T,    0},
        [SUB_TPI]  = {SUB_T,    SUB_PASS},
        [SUB_F]    = {SUB_N,    SUB_PASS | SUB_UNAVAIL},
        [SUB_FPO]  = {SUB_NPO,  SUB_PASS | SUB_UNAVAIL},
        [SUB_B]    = {SUB_T,    SUB_PASS | SUB_UNAVAIL},
        [SUB_NA]   = {SUB_NA,   0},
        [SUB_NPOA] = {SUB_NPOA, 0},
        [SUB_TA]   = {SUB_TA,   0},
    },
    /* A.3.4 inbound unsubscribed: delivered when it denies our pending
     * request or cancels 'to' (3.2.3). The user's pre-approval of the
     * contact is unaffected. */
    [TN_SUB_IN_UNSUBSCRIBED] = {
        [SUB_N]    = {SUB_N,    0},
        [SUB_NPO]  = {SUB_N,    SUB_PASS},
        [SUB_NPI]  = {SUB_NPI,  0},
        [SUB_NPOI] = {SUB_NPI,  SUB_PASS},
        [SUB_T]    = {SUB_N,    SUB_PASS},
        [SUB_TPI]  = {SUB_NPI,  SUB_PASS},
        [SUB_F]    = {SUB_F,    0},
        [SUB_FPO]  = {SUB_F,    SUB_PASS},
        [SUB_B]    = {SUB_F,    SUB_PASS},
        [SUB_NA]   = {SUB_NA,   0},
        [SUB_NPOA] = {SUB_NA,   SUB_PASS},
        [SUB_TA]   = {SUB_NA,   SUB_PASS},
    },
};
/* clang-format on */

/* Maps a state onto its table row, dropping bits no RFC state has: 'to'
 * excludes pending-out, 'from' excludes pending-in, and a pre-approval
 * exists only without 'from' and without pending-in (3.4.2). */
static int sub_index(tn_sub_state_t s)
{
    int po = s.pending_out, pi = s.pending_in, ap = s.approved;

    switch (s.sub) {
    case TN_SUB_TO:
        if (pi)
            return SUB_TPI;
        return ap ? SUB_TA : SUB_T;
    case TN_SUB_FROM:
        return po ? SUB_FPO : SUB_F;
    case TN_SUB_BOTH:
        return SUB_B;
    case TN_SUB_NONE:
    default:
        if (pi)
            return po ? SUB_NPOI : SUB_NPI;
        if (ap)
            return po ? SUB_NPOA : SUB_NA;
        return po ? SUB_NPO : SUB_N;
    }
}

tn_sub_result_t tn_sub_apply(tn_sub_state_t s, tn_sub_event_t ev)
{
    tn_sub_result_t r;
    memset(&r, 0, sizeof(r));

    int cur = sub_index(s);
    struct sub_cell c = {(unsigned char)cur, 0};
    if ((unsigned)ev < SUB_NEVENTS)
        c = sub_table[ev][cur];

    r.state = sub_states[c.next];
    r.pass = (c.flags & SUB_PASS) != 0;
    r.auto_subscribed = (c.flags & SUB_AUTO) != 0;
    r.send_available = (c.flags & SUB_AVAIL) != 0;
    r.send_unavailable = (c.flags & SUB_UNAVAIL) != 0;
    /* Against the state as passed in, so that a stored state with
     * impossible bits gets corrected by the push too. */
    r.changed = r.state.sub != s.sub || r.state.pending_out != s.pending_out ||
                r.state.approved != s.approved;
    return r;
}

static const char *const sub_names[] = {
    [TN_SUB_NONE] = "none",
    [TN_SUB_TO] = "to",
    [TN_SUB_FROM] = "from",
    [TN_SUB_BOTH] = "both",
};

const char *tn_sub_name(tn_sub_t sub)
{
    if ((unsigned)sub > TN_SUB_BOTH)
        return "none";
    return sub_names[sub];
}

int tn_sub_parse(const char *name, tn_sub_t *out)
{
    if (!name)
        return TN_EINVAL;
    for (unsigned i = 0; i <= TN_SUB_BOTH; i++) {
        if (strcmp(name, sub_names[i]) == 0) {
            if (out)
                *out = (tn_sub_t)i;
            return 0;
        }
    }
    return TN_EINVAL;
}

int tn_sub_has_to(tn_sub_state_t s)
{
    return s.sub == TN_SUB_TO || s.sub == TN_SUB_BOTH;
}

int tn_sub_has_from(tn_sub_state_t s)
{
    return s.sub == TN_SUB_FROM || s.sub == TN_SUB_BOTH;
}
