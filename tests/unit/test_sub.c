/* test_sub.c -- unit tests for xmpp/sub.c, the RFC 6121 subscription state
 * machine: every row of the eight Appendix A tables (A.2.1-A.2.4 outbound,
 * A.3.1-A.3.4 inbound; 9 states x 8 events), the same 8 events on the three
 * pre-approved states of 3.4, two-server flows (mutual subscription in four
 * stanzas, pre-approval, teardown), reduction of impossible input, and the
 * name/parse/has_to/has_from helpers. Expected values are written out by
 * hand from the RFC, not derived from the implementation's table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/err.h"
#include "xmpp/sub.h"

/* The nine states of A.1 and the three pre-approved ones of 3.4.2. */
/* clang-format off */
#define N {TN_SUB_NONE, 0, 0, 0}    /* "None" */
#define NPO {TN_SUB_NONE, 1, 0, 0}  /* "None + Pending Out" */
#define NPI {TN_SUB_NONE, 0, 1, 0}  /* "None + Pending In" */
#define NPOI {TN_SUB_NONE, 1, 1, 0} /* "None + Pending Out/In" */
#define T {TN_SUB_TO, 0, 0, 0}      /* "To" */
#define TPI {TN_SUB_TO, 0, 1, 0}    /* "To + Pending In" */
#define F {TN_SUB_FROM, 0, 0, 0}    /* "From" */
#define FPO {TN_SUB_FROM, 1, 0, 0}  /* "From + Pending Out" */
#define B {TN_SUB_BOTH, 0, 0, 0}    /* "Both" */
#define NA {TN_SUB_NONE, 0, 0, 1}   /* "None", pre-approved */
#define NPOA {TN_SUB_NONE, 1, 0, 1} /* "None + Pending Out", pre-approved */
#define TA {TN_SUB_TO, 0, 0, 1}     /* "To", pre-approved */
/* clang-format on */

/* Short event names for the tables. */
#define OSUB TN_SUB_OUT_SUBSCRIBE
#define OSUBD TN_SUB_OUT_SUBSCRIBED
#define OUNS TN_SUB_OUT_UNSUBSCRIBE
#define OUNSD TN_SUB_OUT_UNSUBSCRIBED
#define ISUB TN_SUB_IN_SUBSCRIBE
#define ISUBD TN_SUB_IN_SUBSCRIBED
#define IUNS TN_SUB_IN_UNSUBSCRIBE
#define IUNSD TN_SUB_IN_UNSUBSCRIBED

/* Expected-flag bits for the tables. */
enum {
    CHG = 1,     /* changed */
    PASS = 2,    /* pass (route / deliver) */
    AUTO = 4,    /* auto_subscribed */
    AVAIL = 8,   /* send_available */
    UNAVAIL = 16 /* send_unavailable */
};

struct row {
    const char *cite; /* RFC table and row */
    tn_sub_state_t in;
    tn_sub_event_t ev;
    tn_sub_state_t out;
    unsigned flags;
};

static const struct row rows[] = {
    /* A.2.1 outbound subscribe: ROUTE? yes in every row. */
    {"A.2.1 None", N, OSUB, NPO, CHG | PASS},
    {"A.2.1 None + Pending Out", NPO, OSUB, NPO, PASS},
    {"A.2.1 None + Pending In", NPI, OSUB, NPOI, CHG | PASS},
    {"A.2.1 None + Pending Out/In", NPOI, OSUB, NPOI, PASS},
    {"A.2.1 To", T, OSUB, T, PASS},
    {"A.2.1 To + Pending In", TPI, OSUB, TPI, PASS},
    {"A.2.1 From", F, OSUB, FPO, CHG | PASS},
    {"A.2.1 From + Pending Out", FPO, OSUB, FPO, PASS},
    {"A.2.1 Both", B, OSUB, B, PASS},

    /* A.2.2 outbound unsubscribe: ROUTE? yes in every row. */
    {"A.2.2 None", N, OUNS, N, PASS},
    {"A.2.2 None + Pending Out", NPO, OUNS, N, CHG | PASS},
    {"A.2.2 None + Pending In", NPI, OUNS, NPI, PASS},
    {"A.2.2 None + Pending Out/In", NPOI, OUNS, NPI, CHG | PASS},
    {"A.2.2 To", T, OUNS, N, CHG | PASS},
    {"A.2.2 To + Pending In", TPI, OUNS, NPI, CHG | PASS},
    {"A.2.2 From", F, OUNS, F, PASS},
    {"A.2.2 From + Pending Out", FPO, OUNS, F, CHG | PASS},
    {"A.2.2 Both", B, OUNS, F, CHG | PASS},

    /* A.2.3 outbound subscribed; "pre-approval" rows per 3.4.2. */
    {"A.2.3 None (pre-approval)", N, OSUBD, NA, CHG},
    {"A.2.3 None + Pending Out (pre-approval)", NPO, OSUBD, NPOA, CHG},
    {"A.2.3 None + Pending In", NPI, OSUBD, F, CHG | PASS | AVAIL},
    {"A.2.3 None + Pending Out/In", NPOI, OSUBD, FPO, CHG | PASS | AVAIL},
    {"A.2.3 To (pre-approval)", T, OSUBD, TA, CHG},
    {"A.2.3 To + Pending In", TPI, OSUBD, B, CHG | PASS | AVAIL},
    {"A.2.3 From", F, OSUBD, F, 0},
    {"A.2.3 From + Pending Out", FPO, OSUBD, FPO, 0},
    {"A.2.3 Both", B, OSUBD, B, 0},

    /* A.2.4 outbound unsubscribed. Denying a pending request changes only
     * pending_in, which the roster does not show: routed, no push. */
    {"A.2.4 None", N, OUNSD, N, 0},
    {"A.2.4 None + Pending Out", NPO, OUNSD, NPO, 0},
    {"A.2.4 None + Pending In", NPI, OUNSD, N, PASS},
    {"A.2.4 None + Pending Out/In", NPOI, OUNSD, NPO, PASS},
    {"A.2.4 To", T, OUNSD, T, 0},
    {"A.2.4 To + Pending In", TPI, OUNSD, T, PASS},
    {"A.2.4 From", F, OUNSD, N, CHG | PASS | UNAVAIL},
    {"A.2.4 From + Pending Out", FPO, OUNSD, NPO, CHG | PASS | UNAVAIL},
    {"A.2.4 Both", B, OUNSD, T, CHG | PASS | UNAVAIL},

    /* A.3.1 inbound subscribe; "no *" rows auto-reply (3.1.3 step 2). */
    {"A.3.1 None", N, ISUB, NPI, PASS},
    {"A.3.1 None + Pending Out", NPO, ISUB, NPOI, PASS},
    {"A.3.1 None + Pending In", NPI, ISUB, NPI, 0},
    {"A.3.1 None + Pending Out/In", NPOI, ISUB, NPOI, 0},
    {"A.3.1 To", T, ISUB, TPI, PASS},
    {"A.3.1 To + Pending In", TPI, ISUB, TPI, 0},
    {"A.3.1 From", F, ISUB, F, AUTO | AVAIL},
    {"A.3.1 From + Pending Out", FPO, ISUB, FPO, AUTO | AVAIL},
    {"A.3.1 Both", B, ISUB, B, AUTO | AVAIL},

    /* A.3.2 inbound unsubscribe; losing 'from' sends unavailable (3.3.3). */
    {"A.3.2 None", N, IUNS, N, 0},
    {"A.3.2 None + Pending Out", NPO, IUNS, NPO, 0},
    {"A.3.2 None + Pending In", NPI, IUNS, N, PASS},
    {"A.3.2 None + Pending Out/In", NPOI, IUNS, NPO, PASS},
    {"A.3.2 To", T, IUNS, T, 0},
    {"A.3.2 To + Pending In", TPI, IUNS, T, PASS},
    {"A.3.2 From", F, IUNS, N, CHG | PASS | UNAVAIL},
    {"A.3.2 From + Pending Out", FPO, IUNS, NPO, CHG | PASS | UNAVAIL},
    {"A.3.2 Both", B, IUNS, T, CHG | PASS | UNAVAIL},

    /* A.3.3 inbound subscribed. */
    {"A.3.3 None", N, ISUBD, N, 0},
    {"A.3.3 None + Pending Out", NPO, ISUBD, T, CHG | PASS},
    {"A.3.3 None + Pending In", NPI, ISUBD, NPI, 0},
    {"A.3.3 None + Pending Out/In", NPOI, ISUBD, TPI, CHG | PASS},
    {"A.3.3 To", T, ISUBD, T, 0},
    {"A.3.3 To + Pending In", TPI, ISUBD, TPI, 0},
    {"A.3.3 From", F, ISUBD, F, 0},
    {"A.3.3 From + Pending Out", FPO, ISUBD, B, CHG | PASS},
    {"A.3.3 Both", B, ISUBD, B, 0},

    /* A.3.4 inbound unsubscribed. */
    {"A.3.4 None", N, IUNSD, N, 0},
    {"A.3.4 None + Pending Out", NPO, IUNSD, N, CHG | PASS},
    {"A.3.4 None + Pending In", NPI, IUNSD, NPI, 0},
    {"A.3.4 None + Pending Out/In", NPOI, IUNSD, NPI, CHG | PASS},
    {"A.3.4 To", T, IUNSD, N, CHG | PASS},
    {"A.3.4 To + Pending In", TPI, IUNSD, NPI, CHG | PASS},
    {"A.3.4 From", F, IUNSD, F, 0},
    {"A.3.4 From + Pending Out", FPO, IUNSD, F, CHG | PASS},
    {"A.3.4 Both", B, IUNSD, F, CHG | PASS},
};

/* The same eight events on the pre-approved states (3.4). */
static const struct row approved_rows[] = {
    /* Own subscribe/unsubscribe leave the approval alone (A.2.1, A.2.2). */
    {"3.4 None+A, A.2.1", NA, OSUB, NPOA, CHG | PASS},
    {"3.4 None+PO+A, A.2.1", NPOA, OSUB, NPOA, PASS},
    {"3.4 To+A, A.2.1", TA, OSUB, TA, PASS},
    {"3.4 None+A, A.2.2", NA, OUNS, NA, PASS},
    {"3.4 None+PO+A, A.2.2", NPOA, OUNS, NA, CHG | PASS},
    {"3.4 To+A, A.2.2", TA, OUNS, NA, CHG | PASS},
    /* A repeated pre-approval: nothing to do, not routed (3.4.2 step 4). */
    {"3.4.2 None+A, repeated", NA, OSUBD, NA, 0},
    {"3.4.2 None+PO+A, repeated", NPOA, OSUBD, NPOA, 0},
    {"3.4.2 To+A, repeated", TA, OSUBD, TA, 0},
    /* Cancelling a pre-approval: removed, MUST NOT be routed (3.2.2). */
    {"3.2.2 step 2 None+A", NA, OUNSD, N, CHG},
    {"3.2.2 step 2 None+PO+A", NPOA, OUNSD, NPO, CHG},
    {"3.2.2 step 2 To+A", TA, OUNSD, T, CHG},
    /* The contact's request is auto-approved, not delivered (3.1.3). */
    {"3.4 None+A, A.3.1", NA, ISUB, F, CHG | AUTO | AVAIL},
    {"3.4 None+PO+A, A.3.1", NPOA, ISUB, FPO, CHG | AUTO | AVAIL},
    {"3.4 To+A, A.3.1", TA, ISUB, B, CHG | AUTO | AVAIL},
    /* The contact's answers to our own request keep the approval. */
    {"3.4 None+A, A.3.3", NA, ISUBD, NA, 0},
    {"3.4 None+PO+A, A.3.3", NPOA, ISUBD, TA, CHG | PASS},
    {"3.4 To+A, A.3.3", TA, ISUBD, TA, 0},
    {"3.4 None+A, A.3.2", NA, IUNS, NA, 0},
    {"3.4 None+PO+A, A.3.2", NPOA, IUNS, NPOA, 0},
    {"3.4 To+A, A.3.2", TA, IUNS, TA, 0},
    {"3.4 None+A, A.3.4", NA, IUNSD, NA, 0},
    {"3.4 None+PO+A, A.3.4", NPOA, IUNSD, NA, CHG | PASS},
    {"3.4 To+A, A.3.4", TA, IUNSD, NA, CHG | PASS},
};

/* All twelve states, plain ones first, in A.1 order. */
static const tn_sub_state_t all[] = {N, NPO, NPI, NPOI, T,    TPI,
                                     F, FPO, B,   NA,   NPOA, TA};

static int state_eq(tn_sub_state_t a, tn_sub_state_t b)
{
    return a.sub == b.sub && a.pending_out == b.pending_out &&
           a.pending_in == b.pending_in && a.approved == b.approved;
}

/* Applies one row and fails, naming the row, on any field that differs. */
static void check_row(const struct row *r)
{
    tn_sub_result_t got = tn_sub_apply(r->in, r->ev);
    unsigned flags = (got.changed ? CHG : 0) | (got.pass ? PASS : 0) |
                     (got.auto_subscribed ? AUTO : 0) |
                     (got.send_available ? AVAIL : 0) |
                     (got.send_unavailable ? UNAVAIL : 0);
    if (!state_eq(got.state, r->out) || flags != r->flags) {
        print_error("%s (event %d): got sub=%d po=%u pi=%u ap=%u flags=%#x, "
                    "want sub=%d po=%u pi=%u ap=%u flags=%#x\n",
                    r->cite, (int)r->ev, (int)got.state.sub,
                    (unsigned)got.state.pending_out,
                    (unsigned)got.state.pending_in,
                    (unsigned)got.state.approved, flags, (int)r->out.sub,
                    (unsigned)r->out.pending_out, (unsigned)r->out.pending_in,
                    (unsigned)r->out.approved, r->flags);
        fail();
    }
}

static void test_appendix_a_tables(void **state)
{
    (void)state;
    assert_int_equal(sizeof(rows) / sizeof(rows[0]), 72);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i]);
}

static void test_preapproved_states(void **state)
{
    (void)state;
    assert_int_equal(sizeof(approved_rows) / sizeof(approved_rows[0]), 24);
    for (size_t i = 0; i < sizeof(approved_rows) / sizeof(approved_rows[0]);
         i++)
        check_row(&approved_rows[i]);
}

/* Each table must name every (state, event) pair exactly once, so a
 * missing or duplicated row cannot hide a wrong cell. */
static void test_tables_cover_every_pair(void **state)
{
    (void)state;
    unsigned seen[12][8];
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < 72 + 24; i++) {
        const struct row *r = i < 72 ? &rows[i] : &approved_rows[i - 72];
        size_t k;
        for (k = 0; k < 12; k++)
            if (state_eq(all[k], r->in))
                break;
        assert_true(k < 12);
        assert_true((int)r->ev >= OSUB && (int)r->ev <= IUNSD);
        /* The plain tables hold the nine A.1 states only. */
        assert_true(i < 72 ? k < 9 : k >= 9);
        seen[k][r->ev]++;
    }
    for (size_t k = 0; k < 12; k++)
        for (size_t e = 0; e < 8; e++)
            assert_int_equal(seen[k][e], 1);
}

/* Every result is itself a valid state and changed means exactly "the
 * roster would show something else". */
static void test_results_are_valid_states(void **state)
{
    (void)state;
    for (size_t k = 0; k < 12; k++) {
        for (int e = OSUB; e <= IUNSD; e++) {
            tn_sub_result_t r = tn_sub_apply(all[k], (tn_sub_event_t)e);
            int valid = 0;
            for (size_t j = 0; j < 12; j++)
                valid |= state_eq(r.state, all[j]);
            assert_true(valid);
            int vis = r.state.sub != all[k].sub ||
                      r.state.pending_out != all[k].pending_out ||
                      r.state.approved != all[k].approved;
            assert_int_equal(r.changed, vis);
            /* Auto-replies are never also delivered. */
            assert_false(r.auto_subscribed && r.pass);
        }
    }
}

/* Two servers, each keeping its user's view of the other. An outbound
 * stanza the sender's server passes arrives inbound at the other. */
struct peer {
    tn_sub_state_t st;
    unsigned pushes;    /* roster pushes sent to this user */
    unsigned delivered; /* subscription stanzas delivered to this user */
    unsigned autos;     /* 'subscribed' auto-replies sent for this user */
};

/* Sends ev (an OUT_ event) from a to b. Returns 1 when it reached b. An
 * auto-reply from b travels back to a as an inbound 'subscribed'. */
static int send_sub(struct peer *a, struct peer *b, tn_sub_event_t ev)
{
    tn_sub_result_t ra = tn_sub_apply(a->st, ev);
    a->st = ra.state;
    a->pushes += ra.changed;
    if (!ra.pass)
        return 0;
    tn_sub_result_t rb =
        tn_sub_apply(b->st, (tn_sub_event_t)(ev + TN_SUB_IN_SUBSCRIBE));
    b->st = rb.state;
    b->pushes += rb.changed;
    b->delivered += rb.pass;
    if (rb.auto_subscribed) {
        b->autos++;
        tn_sub_result_t back = tn_sub_apply(a->st, TN_SUB_IN_SUBSCRIBED);
        a->st = back.state;
        a->pushes += back.changed;
        a->delivered += back.pass;
    }
    return 1;
}

static void test_round_trip_mutual(void **state)
{
    (void)state;
    struct peer romeo = {.st = N}, juliet = {.st = N};
    const tn_sub_state_t want_npo = NPO, want_npi = NPI, want_b = B;
    const tn_sub_state_t want_t = T, want_f = F, want_n = N;

    /* 3.1: romeo asks, juliet approves, then the reverse. */
    assert_true(send_sub(&romeo, &juliet, OSUB));
    assert_true(state_eq(romeo.st, want_npo));
    assert_true(state_eq(juliet.st, want_npi));
    assert_int_equal(juliet.delivered, 1);
    assert_int_equal(juliet.pushes, 0); /* pending-in is not in the roster */

    assert_true(send_sub(&juliet, &romeo, OSUBD));
    assert_true(state_eq(romeo.st, want_t));
    assert_true(state_eq(juliet.st, want_f));

    assert_true(send_sub(&juliet, &romeo, OSUB));
    assert_true(send_sub(&romeo, &juliet, OSUBD));
    assert_true(state_eq(romeo.st, want_b));
    assert_true(state_eq(juliet.st, want_b));
    assert_int_equal(romeo.autos + juliet.autos, 0);

    /* 3.3 and 3.2: romeo unsubscribes, then cancels juliet's. */
    assert_true(send_sub(&romeo, &juliet, OUNS));
    assert_true(state_eq(romeo.st, want_f));
    assert_true(state_eq(juliet.st, want_t));
    assert_true(send_sub(&romeo, &juliet, OUNSD));
    assert_true(state_eq(romeo.st, want_n));
    assert_true(state_eq(juliet.st, want_n));

    /* Nothing left to cancel: not routed again (A.2.4 "None"). */
    assert_false(send_sub(&romeo, &juliet, OUNSD));
}

static void test_preapproval_flow(void **state)
{
    (void)state;
    struct peer romeo = {.st = N}, juliet = {.st = N};
    const tn_sub_state_t want_na = NA, want_t = T, want_f = F;
    const tn_sub_state_t want_n = N;

    /* Juliet pre-approves romeo: pushed to her, not routed (3.4.2). */
    assert_false(send_sub(&juliet, &romeo, OSUBD));
    assert_true(state_eq(juliet.st, want_na));
    assert_int_equal(juliet.pushes, 1);
    assert_true(state_eq(romeo.st, want_n));

    /* Romeo's request is approved without bothering juliet (3.1.3). */
    assert_true(send_sub(&romeo, &juliet, OSUB));
    assert_int_equal(juliet.delivered, 0);
    assert_int_equal(juliet.autos, 1);
    assert_true(state_eq(juliet.st, want_f));
    assert_true(state_eq(romeo.st, want_t));
    assert_int_equal(romeo.delivered, 1); /* the auto-reply */

    /* A second request from romeo (his server lost state) is answered
     * again on juliet's behalf (A.3.1 "From", footnote). */
    romeo.st = (tn_sub_state_t)N;
    assert_true(send_sub(&romeo, &juliet, OSUB));
    assert_int_equal(juliet.autos, 2);
    assert_int_equal(juliet.delivered, 0);
    assert_true(state_eq(romeo.st, want_t));
}

static void test_preapproval_cancelled(void **state)
{
    (void)state;
    struct peer romeo = {.st = N}, juliet = {.st = N};
    const tn_sub_state_t want_n = N, want_npo = NPO, want_npi = NPI;

    assert_false(send_sub(&juliet, &romeo, OSUBD));
    /* Cancelled before romeo asked: pushed, never routed (3.2.2 step 2). */
    assert_false(send_sub(&juliet, &romeo, OUNSD));
    assert_true(state_eq(juliet.st, want_n));
    assert_int_equal(juliet.pushes, 2);

    /* Romeo's later request is delivered as usual. */
    assert_true(send_sub(&romeo, &juliet, OSUB));
    assert_true(state_eq(juliet.st, want_npi));
    assert_true(state_eq(romeo.st, want_npo));
    assert_int_equal(juliet.delivered, 1);
    assert_int_equal(juliet.autos, 0);
}

static void test_preapproval_kept_across_own_request(void **state)
{
    (void)state;
    struct peer romeo = {.st = N}, juliet = {.st = N};
    const tn_sub_state_t want_ta = TA, want_b = B;

    /* Juliet pre-approves romeo and also subscribes to him. */
    assert_false(send_sub(&juliet, &romeo, OSUBD));
    assert_true(send_sub(&juliet, &romeo, OSUB));
    assert_true(send_sub(&romeo, &juliet, OSUBD));
    assert_true(state_eq(juliet.st, want_ta));
    /* Now romeo asks: auto-approved straight to Both. */
    assert_true(send_sub(&romeo, &juliet, OSUB));
    assert_true(state_eq(juliet.st, want_b));
    assert_true(state_eq(romeo.st, want_b));
    assert_int_equal(juliet.autos, 1);
}

/* Stored states no RFC state matches are reduced first. */
static void test_inconsistent_input(void **state)
{
    (void)state;
    tn_sub_result_t r;

    /* 'from' with pending-in and approved: treated as "From". */
    r = tn_sub_apply((tn_sub_state_t){TN_SUB_FROM, 0, 1, 1}, ISUB);
    assert_int_equal(r.state.sub, TN_SUB_FROM);
    assert_int_equal(r.state.pending_in, 0);
    assert_int_equal(r.state.approved, 0);
    assert_true(r.auto_subscribed);
    assert_false(r.pass);
    assert_true(r.changed); /* approved was dropped: push the fix */

    /* 'to' with pending-out: treated as "To". */
    r = tn_sub_apply((tn_sub_state_t){TN_SUB_TO, 1, 0, 0}, IUNSD);
    assert_int_equal(r.state.sub, TN_SUB_NONE);
    assert_int_equal(r.state.pending_out, 0);
    assert_true(r.pass);

    /* Everything set on "Both": a no-op event still cleans up. */
    r = tn_sub_apply((tn_sub_state_t){TN_SUB_BOTH, 1, 1, 1}, OSUB);
    assert_int_equal(r.state.sub, TN_SUB_BOTH);
    assert_int_equal(r.state.pending_out, 0);
    assert_int_equal(r.state.pending_in, 0);
    assert_int_equal(r.state.approved, 0);
    assert_true(r.changed);
    assert_true(r.pass);

    /* Pending-in wins over a stale approval: subscribed approves it. */
    r = tn_sub_apply((tn_sub_state_t){TN_SUB_NONE, 0, 1, 1}, OSUBD);
    assert_int_equal(r.state.sub, TN_SUB_FROM);
    assert_int_equal(r.state.approved, 0);
    assert_true(r.pass);
    assert_true(r.send_available);

    /* An unknown subscription value counts as "None". */
    r = tn_sub_apply((tn_sub_state_t){(tn_sub_t)42, 0, 0, 0}, OSUB);
    assert_int_equal(r.state.sub, TN_SUB_NONE);
    assert_int_equal(r.state.pending_out, 1);
    assert_true(r.changed);
}

static void test_unknown_event(void **state)
{
    (void)state;
    static const int bad[] = {-1, 8, 99};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tn_sub_result_t r =
            tn_sub_apply((tn_sub_state_t)TPI, (tn_sub_event_t)bad[i]);
        const tn_sub_state_t want = TPI;
        assert_true(state_eq(r.state, want));
        assert_false(r.changed);
        assert_false(r.pass);
        assert_false(r.auto_subscribed);
        assert_false(r.send_available);
        assert_false(r.send_unavailable);
    }
}

static void test_names(void **state)
{
    (void)state;
    static const struct {
        tn_sub_t sub;
        const char *name;
    } names[] = {
        {TN_SUB_NONE, "none"},
        {TN_SUB_TO, "to"},
        {TN_SUB_FROM, "from"},
        {TN_SUB_BOTH, "both"},
    };
    for (size_t i = 0; i < 4; i++) {
        tn_sub_t got = (tn_sub_t)77;
        assert_string_equal(tn_sub_name(names[i].sub), names[i].name);
        assert_int_equal(tn_sub_parse(names[i].name, &got), 0);
        assert_int_equal(got, names[i].sub);
        assert_int_equal(tn_sub_parse(names[i].name, NULL), 0);
    }
    assert_string_equal(tn_sub_name((tn_sub_t)4), "none");
    assert_string_equal(tn_sub_name((tn_sub_t)-1), "none");

    static const char *const bad[] = {
        "", "None", "BOTH", "remove", "both ", " to", "fro", "fromm", "t",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tn_sub_t got = TN_SUB_FROM;
        assert_int_equal(tn_sub_parse(bad[i], &got), -1);
        assert_int_equal(got, TN_SUB_FROM); /* untouched */
    }
    assert_int_equal(tn_sub_parse(NULL, NULL), TN_EINVAL);
}

static void test_has_to_from(void **state)
{
    (void)state;
    static const struct {
        tn_sub_state_t s;
        int to, from;
    } cases[] = {
        {N, 0, 0}, {NPO, 0, 0}, {NPI, 0, 0},  {NPOI, 0, 0},
        {T, 1, 0}, {TPI, 1, 0}, {F, 0, 1},    {FPO, 0, 1},
        {B, 1, 1}, {NA, 0, 0},  {NPOA, 0, 0}, {TA, 1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(tn_sub_has_to(cases[i].s), cases[i].to);
        assert_int_equal(tn_sub_has_from(cases[i].s), cases[i].from);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appendix_a_tables),
        cmocka_unit_test(test_preapproved_states),
        cmocka_unit_test(test_tables_cover_every_pair),
        cmocka_unit_test(test_results_are_valid_states),
        cmocka_unit_test(test_round_trip_mutual),
        cmocka_unit_test(test_preapproval_flow),
        cmocka_unit_test(test_preapproval_cancelled),
        cmocka_unit_test(test_preapproval_kept_across_own_request),
        cmocka_unit_test(test_inconsistent_input),
        cmocka_unit_test(test_unknown_event),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_has_to_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
