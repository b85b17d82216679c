/* agent.h -- the agent runtime: one agency's connection to the broker.
 * Connects over CURVE (the broker's key from the registry), says hello,
 * seals and sends records and matches their ACK/NACK, receives deliveries,
 * opens and verifies them, de-duplicates by record id (in its own LMDB
 * state when a state directory is given), and returns signed receipts in
 * batches. Reconnects by itself: on every successful handshake it says
 * hello again and re-sends every record not yet acknowledged, in order.
 * A record refused for a transient reason (macx_reason_transient:
 * STORE_UNAVAILABLE, SHUTTING_DOWN) stays pending and is sent again, as it
 * is, after a backoff (retry_first_ms doubling up to retry_cap_ms, each
 * delay drawn between half and all of it), at most retry_max times; what
 * was not yet sent after it waits, so the sender's order is kept. Then it
 * comes back as a NACK with that reason and a message saying so. Not with
 * cfg.sim: a federate's verdicts are events in simulated time, and a
 * transient refusal comes back at once as before (docs/protocol.md).
 *
 * With cfg.sim the agent is a federate of the broker's simulated clock
 * (docs/protocol.md "Simulated time"): timers, records and the broker's
 * verdicts go into one queue ordered by (simulated time, kind, sender,
 * sequence), and next hands them out only up to the time the broker has
 * granted; when the queue holds nothing before the grant, the runtime
 * flushes receipts, asks the broker for time with the time of its next
 * event, and waits. The application's only clock is macx_agent_now: no
 * simulated decision reads the wall clock.
 * Single-threaded: one agent per thread. */
#ifndef MACX_AGENT_H
#define MACX_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "keys.h"
#include "record.h"

typedef struct {
    char keys_dir[1024];
    char agency[MACX_AGENCY_ID_MAX + 1];
    char broker[256];            /* endpoint, e.g. tcp://127.0.0.1:7750 */
    char broker_id[MACX_AGENCY_ID_MAX + 1];   /* "broker" */
    char state_dir[1024];        /* LMDB dedup state; "" = in memory only */
    uint32_t credit;             /* deliveries outstanding at most (default 256) */
    int receipt_batch;           /* receipt after this many records (default 64) */
    int receipt_delay_ms;        /* or after this long (default 20) */
    int heartbeat_ms;            /* default 1000 */
    bool sim;                    /* a federate of the broker's simulated clock */
    int retry_max;               /* resends after transient refusals (default 6; 0 = none) */
    int retry_first_ms;          /* first backoff (default 100) */
    int retry_cap_ms;            /* largest backoff (default 5000) */
    int window;                  /* records sent and not yet answered, at most (default
                                    1024: below the broker's peer_queue_frames, 4096) */
    int answer_timeout_ms;       /* no frame from the broker this long with records
                                    unanswered: reconnect (default 5000; 0 = never) */
    int batch_max;               /* batch signatures: records posted within batch_ms are
                                    signed together, up to this many (default 0 or 1:
                                    each record signed on its own; at most 4096; not
                                    with sim) */
    int batch_ms;                /* a batch is signed and sent this long after its first
                                    record at the latest (default 2), or at once when
                                    the application waits, flushes or posts raw */
} macx_agent_config_t;

void macx_agent_config_defaults (macx_agent_config_t *cfg);

typedef enum {
    MACX_AGENT_ACK = 1,          /* a posted record was durably accepted */
    MACX_AGENT_NACK,             /* a posted record was refused: reason, message */
    MACX_AGENT_RECORD,           /* a record for us, opened and verified */
    MACX_AGENT_ERROR,            /* a delivery that failed to open, or a session error */
    MACX_AGENT_STATS,            /* a stats reply: message holds JSON (see stats_json) */
    MACX_AGENT_TIMER             /* simulated clock: a timer set with macx_agent_timer */
} macx_agent_event_kind_t;

/* The terms a recipient holds its copy of a record under, as the broker
 * judged them when it accepted the record and stated them with the
 * delivery (docs/protocol.md "Retention at the recipient"). */
typedef struct {
    char agreement[128];         /* "" when the delivery stated none */
    char flow[64];
    int retention_days;          /* 0: the flow states no retention */
    int64_t expires_ms;          /* when the copy's retention ends; 0: never */
    char on_expiry[16];          /* "delete", "anonymise" or "review"; "" with no retention */
} macx_agent_terms_t;

typedef struct {
    macx_agent_event_kind_t kind;
    uint8_t record_id[MACX_RECORD_ID_BYTES];
    uint64_t sequence;
    uint64_t audit_seq;
    int reason;                  /* Macx__Reason for NACK and ERROR */
    char message[512];
    char agreement[128];
    char flow[128];
    void *user;                  /* the post's user pointer (ACK, NACK) */
    /* RECORD */
    macx_record_t *record;       /* owned by the event until macx_agent_done */
    uint64_t mailbox_seq;
    bool redelivery;
    macx_agent_terms_t terms;    /* what our copy is held under */
    char *stats_json;            /* STATS: owned by the event; freed by done */
    /* simulated clock */
    int64_t time_ms;             /* when it happens: a record's arrival, a verdict's
                                    arrival at its sender, a timer's time */
    int64_t clock_ms;            /* ACK, NACK, RECORD: the broker's stamp on the record */
    /* ACK, NACK: the broker's signed answer as it came (docs/protocol.md
     * "Signed answers"): the Ack, or the Nack (a REPLAY taken as an ACK
     * keeps its NACK), with its proof, for `macx audit prove`. NULL when the
     * runtime made the event itself (a batch it could not sign) or the
     * answer carried no usable proof (answer_error says why). Owned by the
     * event until macx_agent_done. */
    macx_answer_t *answer;
    char answer_error[128];
    uint64_t tag;                /* TIMER: the tag it was set with (user: its user) */
    uint64_t order;              /* ties at one time: a sequence, or the timer's number */
    char from[MACX_AGENCY_ID_MAX + 1];   /* RECORD: its sender (ties) */
} macx_agent_event_t;

typedef struct macx_agent_t macx_agent_t;

/* Loads the identity and registry, opens the state, connects. Returns
 * quickly: the handshake completes in the background (see next). */
macx_agent_t *macx_agent_new (const macx_agent_config_t *cfg, macx_error_t *err);
void macx_agent_destroy (macx_agent_t **self_p);

const macx_registry_t *macx_agent_registry (const macx_agent_t *self);
macx_identity_t *macx_agent_identity (macx_agent_t *self);

/* Seals and sends a record. The caller fills the header as for
 * macx_record_seal but not record_id nor sequence, which post assigns
 * (header->record_id then points into the agent, valid until the next
 * post). user comes back with the ACK/NACK. Never blocks for long: when
 * the broker is unreachable the record waits and is sent on reconnect.
 * A REPLAY answer to a record sent again after a reconnect comes back as
 * an ACK (the broker stored it before we heard back). With cfg.sim the
 * record claims macx_agent_now, so a post before the first event is
 * refused (MACX_EINVAL): there is no simulated time yet to claim. */
int macx_agent_post (macx_agent_t *self, Macx__Header *header, const Macx__Payload *payload,
                     void *user, macx_error_t *err);

/* Queues an already sealed record (e.g. from `macx record seal`) as it is,
 * byte for byte; its record id and sequence are read from its header with
 * macx_record_decode (so it must decode; nothing else is checked here: the
 * broker judges it). The bytes are copied. Unlike post, a REPLAY answer
 * comes back as a NACK, since this process did not seal the record. */
int macx_agent_post_raw (macx_agent_t *self, const uint8_t *sealed, size_t len, void *user,
                         macx_error_t *err);

/* Waits up to timeout_ms for the next event (-1: forever). Returns 0 with
 * *ev filled, MACX_ETIMEOUT, or MACX_EDENIED when the broker refused our
 * key (the connection can never succeed); with cfg.sim also MACX_EDONE
 * once the broker says the simulation has ended (err says why). Every
 * event must be passed to macx_agent_done. With cfg.sim, events come in
 * simulated-time order and only before the broker's grant. */
int macx_agent_next (macx_agent_t *self, int timeout_ms, macx_agent_event_t *ev,
                     macx_error_t *err);

/* Finishes with an event. For a RECORD: the application has processed it;
 * it is marked seen (duplicates are then dropped silently) and receipted
 * in the next batch. Frees what the event owns. */
void macx_agent_done (macx_agent_t *self, macx_agent_event_t *ev);

/* Posts and waits for that record's ACK or NACK (other events are kept for
 * next). Returns 0 with ev the ACK/NACK, or MACX_ETIMEOUT. */
int macx_agent_send (macx_agent_t *self, Macx__Header *header, const Macx__Payload *payload,
                     int timeout_ms, macx_agent_event_t *ev, macx_error_t *err);

/* Commits the seen-set and sends the pending receipt now (and any
 * retention receipt that could not go when it was made). */
int macx_agent_flush (macx_agent_t *self);

/* Tells the broker, signed, what the agency did with its copy of a record
 * it received when the copy's retention ended (RECORD's terms): action is
 * "deleted", "anonymised" or "review" (a review task raised; the copy is
 * still held), at_ms when (macx_agent_now with cfg.sim). The delivery's own
 * receipt goes first. Sent now, or, if the connection cannot take it, on
 * the next flush. record_id is MACX_RECORD_ID_BYTES long. Returns 0,
 * MACX_EINVAL (an unknown action) or MACX_ENOMEM. The broker answers nothing: it
 * audits the receipt, or audits it as refused (docs/audit.md). */
int macx_agent_retention (macx_agent_t *self, const uint8_t *record_id, const char *action,
                          int64_t at_ms, macx_error_t *err);

/* Asks the broker for its statistics; the reply comes as a STATS event. */
int macx_agent_request_stats (macx_agent_t *self);

/* ---- simulated clock (cfg.sim) ---- */

/* Sets a timer at at_ms (not before now); it comes back as a TIMER event
 * with tag and user. Timers at one time come in the order they were set.
 * Returns 0, MACX_EINVAL (in the past, or not cfg.sim) or MACX_ENOMEM. */
int macx_agent_timer (macx_agent_t *self, int64_t at_ms, uint64_t tag, void *user);

/* The simulated time of the event handed out last (0 before the first):
 * the agency's clock. Records posted are claimed at this time. */
int64_t macx_agent_now (const macx_agent_t *self);

/* Records refused because they reached us stamped in our past (the time
 * protocol broken: each is logged; a pilot agent with any fails). */
uint64_t macx_agent_late (const macx_agent_t *self);

/* Time requests sent so far. */
uint64_t macx_agent_requests (const macx_agent_t *self);

/* Records posted but not yet acknowledged. */
size_t macx_agent_unacked (const macx_agent_t *self);
/* Resends after transient refusals so far. */
uint64_t macx_agent_retries (const macx_agent_t *self);
/* True once a handshake with the broker has succeeded (and hello was sent). */
bool macx_agent_connected (const macx_agent_t *self);

#endif
