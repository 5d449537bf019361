/* sub.h -- the presence subscription state machine of RFC 6121: the nine
 * states of Appendix A.1 plus the pre-approval flag of 3.4, and what the
 * user's server does with each outbound (A.2, 3.1.2/3.1.5/3.2.2/3.3.2) and
 * inbound (A.3, 3.1.3/3.1.6/3.2.3/3.3.3) subscription stanza.
 *
 * Pure: no I/O, no allocation, no storage. The caller (mod_roster /
 * mod_presence) loads the contact's state, applies the event, stores the
 * new state, then routes, delivers, pushes and sends presence as the result
 * says. Rosters, roster pushes, offline storage of pending requests and the
 * stanzas themselves belong to the caller. */
#ifndef TN_XMPP_SUB_H
#define TN_XMPP_SUB_H

/* The roster's 'subscription' attribute (RFC 6121 2.1.2.5). */
typedef enum { TN_SUB_NONE = 0, TN_SUB_TO, TN_SUB_FROM, TN_SUB_BOTH } tn_sub_t;

/* The state of one roster contact as the user's server keeps it. A contact
 * that is not in the roster is the zero value (state "None"). */
typedef struct tn_sub_state {
    tn_sub_t sub;
    unsigned pending_out : 1; /* the user asked; shown as ask='subscribe' */
    unsigned pending_in : 1;  /* the contact asked; awaiting the user */
    unsigned approved : 1;    /* pre-approved (RFC 6121 3.4) */
} tn_sub_state_t;

/* OUT: sent by the user (c2s) to the contact; IN: received from the
 * contact (s2s or local) for the user. */
typedef enum {
    TN_SUB_OUT_SUBSCRIBE,
    TN_SUB_OUT_SUBSCRIBED,
    TN_SUB_OUT_UNSUBSCRIBE,
    TN_SUB_OUT_UNSUBSCRIBED,
    TN_SUB_IN_SUBSCRIBE,
    TN_SUB_IN_SUBSCRIBED,
    TN_SUB_IN_UNSUBSCRIBE,
    TN_SUB_IN_UNSUBSCRIBED,
} tn_sub_event_t;

/* What the server must do after applying an event to a contact's state. */
typedef struct tn_sub_result {
    /* The new state; store it whenever it differs from the old one,
     * pending_in included. */
    tn_sub_state_t state;
    /* sub, pending_out or approved (what the roster shows) differs from the
     * state passed in: roster push needed. pending_in alone is not visible
     * in the roster and does not set it. */
    unsigned changed : 1;
    /* Outbound: route the stanza to the contact; inbound: deliver it to the
     * user (A.2 "Route?", A.3 "Deliver?"). */
    unsigned pass : 1;
    /* Inbound subscribe from a contact that is already subscribed (3.1.3
     * step 2) or was pre-approved (3.4): the server answers 'subscribed' on
     * the user's behalf and does not deliver the request. */
    unsigned auto_subscribed : 1;
    /* The contact just gained 'from' (outbound subscribed, 3.1.5, or a
     * pre-approved inbound subscribe) or was re-confirmed by an auto-reply:
     * send the user's current presence to the contact. */
    unsigned send_available : 1;
    /* The contact lost 'from' (outbound unsubscribed, 3.2.2, or inbound
     * unsubscribe, 3.3.3): send unavailable from each of the user's
     * available resources to the contact. */
    unsigned send_unavailable : 1;
} tn_sub_result_t;

/* Applies ev to s. Pure; never fails. Inconsistent input (e.g. 'from' with
 * pending_in, 'to' with pending_out, approved with 'from' or pending_in, an
 * unknown sub) is first reduced to the nearest RFC state; an unknown ev
 * changes nothing and passes nothing. */
tn_sub_result_t tn_sub_apply(tn_sub_state_t s, tn_sub_event_t ev);

/* Roster attribute helpers: "none"/"to"/"from"/"both"; parse returns -1 for
 * unknown text. tn_sub_name returns a static string ("none" for a value
 * outside the enum). tn_sub_parse matches case-sensitively and returns 0 or
 * -1 (TN_EINVAL; also for NULL name, or "remove", which is not a state);
 * out may be NULL to only validate, and is untouched on error. */
const char *tn_sub_name(tn_sub_t sub);
int tn_sub_parse(const char *name, tn_sub_t *out);
/* 1 when the user receives the contact's presence (to/both), 1 when the
 * contact receives the user's (from/both); 0 otherwise. */
int tn_sub_has_to(tn_sub_state_t s);
int tn_sub_has_from(tn_sub_state_t s);

#endif
