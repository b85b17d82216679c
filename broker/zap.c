/* zap.c -- the ZeroMQ Authentication Protocol handler (RFC 27): admits a
 * CURVE client only if its transport key is registered and not revoked,
 * and names it by its agency id (the ZAP User-Id every decision uses). */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "broker_int.h"
#include "log.h"

/* Receives one ZAP request (7 frames: version, request id, domain, address,
 * identity, mechanism, then the mechanism's credentials). */
static int
s_recv_request (void *sock, char parts[7][256], size_t sizes[7])
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        if (zmq_msg_recv (&m, sock, 0) < 0) {
            zmq_msg_close (&m);
            return -1;
        }
        if (n < 7) {
            size_t len = zmq_msg_size (&m);
            sizes[n] = len < 255 ? len : 255;
            memcpy (parts[n], zmq_msg_data (&m), sizes[n]);
            parts[n][sizes[n]] = '\0';
        }
        n++;
        more = zmq_msg_more (&m);
        zmq_msg_close (&m);
    }
    return n;
}

static void
s_reply (void *sock, const char *request_id, size_t id_len, const char *status,
         const char *text, const char *user)
{
    zmq_send (sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send (sock, request_id, id_len, ZMQ_SNDMORE);
    zmq_send (sock, status, strlen (status), ZMQ_SNDMORE);
    zmq_send (sock, text, strlen (text), ZMQ_SNDMORE);
    zmq_send (sock, user, strlen (user), ZMQ_SNDMORE);
    zmq_send (sock, "", 0, 0);
}

void *
macx_broker_zap_thread (void *arg)
{
    macx_broker_t *b = arg;
    void *sock = b->zap_socket;
    char parts[7][256];
    size_t sizes[7];
    for (;;) {
        int n = s_recv_request (sock, parts, sizes);
        if (n < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break;   /* context terminated */
        }
        if (n < 6) {
            macx_log (MACX_LOG_WARN, "zap: malformed request", "frames=%d", n);
            continue;
        }
        const char *mechanism = parts[5];
        if (strcmp (mechanism, "CURVE") != 0 || n != 7 || sizes[6] != 32) {
            macx_log (MACX_LOG_WARN, "refused connection: not CURVE", "address=%s mechanism=%s",
                      parts[3], mechanism);
            s_reply (sock, parts[1], sizes[1], "400", "CURVE required", "");
            __atomic_add_fetch (&b->zap_refused, 1, __ATOMIC_RELAXED);
            continue;
        }
        const macx_agency_t *a = macx_registry_find_curve (macx_broker_registry (b), (uint8_t *) parts[6]);
        if (!a || a->revoked) {
            char z85[41];
            zmq_z85_encode (z85, (uint8_t *) parts[6], 32);
            macx_log (MACX_LOG_WARN, a ? "refused connection: agency revoked"
                                       : "refused connection: unregistered transport key",
                      "address=%s agency=%s curve_key=%s", parts[3], a ? a->id : "-", z85);
            s_reply (sock, parts[1], sizes[1], "400", a ? "agency revoked" : "unknown key", "");
            __atomic_add_fetch (&b->zap_refused, 1, __ATOMIC_RELAXED);
            continue;
        }
        macx_log (MACX_LOG_DEBUG, "admitted", "address=%s agency=%s", parts[3], a->id);
        s_reply (sock, parts[1], sizes[1], "200", "OK", a->id);
    }
    zmq_close (sock);
    return NULL;
}
