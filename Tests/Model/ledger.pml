/*
 * ledger.pml: the delivery ledger's protocol (docs/LEDGER.md), model-checked
 * with spin. Run it with scripts/check-ledger-model.sh, which `make test`
 * runs through Tests/MigrationsTests/LedgerModelTests.swift.
 *
 * Two workers, one issue with ND deliveries of NP parts each. Every SQL
 * statement is one atomic step (a claim is one statement). Time is not a
 * number: a lease is valid or expired, and the Clock process expires it.
 * A lease nobody renews (its holder died or gave up) always expires in the
 * end; a lease a live worker is renewing expires only when that worker
 * stalls for longer than the lease, at most MAX_STALL times in a run.
 * A worker may crash (kill -9) before any statement, at most MAX_CRASH
 * times in all; it restarts at once with a new lease token and no memory.
 * The transport accepts a part (it reaches the mailbox), refuses it
 * (temporary or permanent), or leaves the outcome unknown: the message
 * reached the mailbox but no reply came back (the worst case of unknown).
 *
 * -DUNCONDITIONAL_ACK: the broken variant whose acknowledgement does not
 * check lease_owner; spin must find a violation in it.
 */

#define NW 2                   /* workers */
#define ND 2                   /* deliveries (subscribers) of the issue */
#define NP 2                   /* parts of the issue */
#ifndef MAX_CRASH
#define MAX_CRASH 2            /* kill -9, over all workers */
#endif
#ifndef MAX_STALL
#define MAX_STALL 1            /* live holder's lease expiring under it */
#endif
#ifndef MAX_ATTEMPTS
#define MAX_ATTEMPTS 2         /* LISTCTL_RETRY_MAX_ATTEMPTS, kept small */
#endif
#ifndef MAX_UNKNOWN
#define MAX_UNKNOWN 2
#endif
/* MAX_UNKNOWN: the unknown outcomes of one part that make it failed-unknown (retry once) */
#define NONE 255
#define K (MAX_CRASH + 2)      /* token = w * K + generation + 1 */

mtype = { PENDING, SENT, FAILED, BOUNCED, SKIPPED, CANCELLED };
mtype = { ACCEPTED, TEMPORARY, PERMANENT, UNKNOWN };

/* ---- the database: table deliveries, one issue ---- */
mtype state[ND] = PENDING;
byte next_part[ND];            /* 0-based here; 1-based in SQL */
byte owner[ND];                /* lease_owner: 0 = NULL, else a token */
bool expired[ND];              /* lease_expires_at < now() */
byte attempts[ND];             /* temporary failures */
byte unknowns[ND];             /* unknown outcomes of the current part */
bool subscribed[ND] = true;    /* active subscription and not suppressed */
bool cancelled;                /* issues.state = 'cancelled' */

/* ---- ghosts: what happened, never read by the protocol ---- */
byte wire[ND * NP];            /* copies of (delivery, part) that reached the mailbox */
byte recorded[ND * NP];        /* acknowledgements of (delivery, part) that matched a row */
bool g_crash[ND];              /* a worker died holding the delivery */
bool g_expiry[ND];             /* a live holder's lease expired under it */
bool g_unknown[ND];            /* an outcome was unknown */
byte crashes, stalls;
bool env_done;                 /* one unsubscribe or one cancel per run */
byte gen[NW];                  /* incarnation of each worker */
byte working[NW];              /* d + 1 while worker w works on d, else 0 */
bool stale[NW];                /* worker w's lease expired since it last claimed or renewed */

#define IDX(d, p)     ((d) * NP + (p))
#define TOK(w)        ((w) * K + gen[w] + 1)
#define HOLDER(d)     ((owner[d] - 1) / K)
#define ACTIVE(d)     (owner[d] != 0 && working[HOLDER(d)] == (d) + 1 && TOK(HOLDER(d)) == owner[d])
#define CLAIMABLE(d)  (state[d] == PENDING && !cancelled && (owner[d] == 0 || expired[d]))
#define FINAL(d)      (state[d] != PENDING)
#define ALL_FINAL     (FINAL(0) && FINAL(1))

/* Before a part goes on the wire. */
#define SEND_CHECKS \
    assert(n == 0 || recorded[IDX(d, 0)] == 1);  /* parts go out in order */ \
    /* A holder whose lease never lapsed never re-sends a recorded part. */ \
    assert(recorded[IDX(d, n)] == 0 || stale[w])
/* A copy reaches the mailbox (the count saturates at 2: only "more than one" matters).
 * (b) A second copy needs a crash, an expired lease or an unknown outcome. */
#define WIRE \
    if :: wire[IDX(d, n)] < 2 -> wire[IDX(d, n)]++ :: else fi; \
    assert(wire[IDX(d, n)] <= 1 || g_crash[d] || g_expiry[d] || g_unknown[d])

/* Time, the subscriber and the writer. */
active proctype Clock() {
end:
    do
    /* A lease nobody renews runs out. */
    :: d_step { owner[0] != 0 && !expired[0] && !ACTIVE(0) -> expired[0] = true }
    :: d_step { owner[1] != 0 && !expired[1] && !ACTIVE(1) -> expired[1] = true }
    /* A live holder stalls longer than the lease (GC pause, partition from the database). */
    :: d_step { stalls < MAX_STALL && ACTIVE(0) && !expired[0] ->
                stalls++; expired[0] = true; g_expiry[0] = true; stale[HOLDER(0)] = true }
    :: d_step { stalls < MAX_STALL && ACTIVE(1) && !expired[1] ->
                stalls++; expired[1] = true; g_expiry[1] = true; stale[HOLDER(1)] = true }
#ifndef NO_ENV
    /* The subscriber unsubscribes (or the address is suppressed) mid-send. */
    :: d_step { !env_done -> env_done = true; subscribed[0] = false }
    :: d_step { !env_done -> env_done = true; subscribed[1] = false }
    /* listctl cancel ISSUE: one statement over the issue's pending rows. */
    :: d_step { !env_done -> env_done = true; cancelled = true;
                if :: state[0] == PENDING -> state[0] = CANCELLED :: else fi;
                if :: state[1] == PENDING -> state[1] = CANCELLED :: else fi }
#endif
    od
}

/* The claim: one statement (FOR UPDATE SKIP LOCKED, due rows only). */
inline claim(x) {
    d = x;
    if
    :: !subscribed[d] ->                 /* re-checked at claim time */
        state[d] = SKIPPED; owner[d] = 0; expired[d] = false; d = NONE
    :: else ->
        owner[d] = TOK(w); expired[d] = false; n = next_part[d];
        working[w] = d + 1; stale[w] = false
    fi
}

/* Give the row back (the update that follows a failure does this). */
inline release() {
    owner[d] = 0; expired[d] = false
}

proctype Worker(byte w) {
    byte d, n;
    mtype outcome;
    bool ok;
top:
    d = NONE; n = 0; ok = false; outcome = ACCEPTED;
    {
        do
        :: d == NONE && ALL_FINAL -> break
        :: d_step { d == NONE && CLAIMABLE(0) -> claim(0) }
        :: d_step { d == NONE && CLAIMABLE(1) -> claim(1) }
        :: d != NONE ->
            /* Work on d, part n, while the lease is ours. */
            do
            :: true ->
                /* Renew (UPDATE … WHERE lease_owner = $me RETURNING the issue's state). */
                d_step {
                    if
                    :: owner[d] == TOK(w) && !cancelled ->
                        expired[d] = false; stale[w] = false; ok = true
                    :: owner[d] == TOK(w) && cancelled ->
                        state[d] = CANCELLED; release(); working[w] = 0; ok = false
                    :: else ->                       /* 0 rows: the lease is lost */
                        working[w] = 0; ok = false
                    fi
                }
                if :: !ok -> d = NONE; break :: else fi;

                /* Send part n with its derived Message-ID; the transport answers. */
                if
                :: d_step { SEND_CHECKS; outcome = ACCEPTED; WIRE }
                :: d_step { SEND_CHECKS; outcome = TEMPORARY }
                :: d_step { SEND_CHECKS; outcome = PERMANENT }
                :: d_step { SEND_CHECKS; outcome = UNKNOWN; WIRE; g_unknown[d] = true }
                fi;

                /* Record the outcome: one conditional UPDATE. */
                d_step {
                    if
                    :: outcome == ACCEPTED ->
                        if
#ifdef UNCONDITIONAL_ACK
                        :: next_part[d] == n ->
#else
                        :: next_part[d] == n && owner[d] == TOK(w) ->
#endif
                            assert(wire[IDX(d, n)] >= 1);             /* recorded => delivered */
                            assert(owner[d] == TOK(w));               /* only the lease holder records */
                            recorded[IDX(d, n)]++;
                            assert(recorded[IDX(d, n)] == 1);         /* (a) never recorded twice */
                            next_part[d]++; unknowns[d] = 0;
                            if
                            :: next_part[d] == NP ->
                                state[d] = SENT; release(); working[w] = 0; ok = false; attempts[d] = 0
                            :: else -> n++; ok = true
                            fi
                        :: else -> working[w] = 0; ok = false        /* 0 rows: lease lost */
                        fi
                    :: outcome == TEMPORARY ->
                        if
                        :: next_part[d] == n && owner[d] == TOK(w) ->
                            attempts[d]++;
                            if
                            :: state[d] == PENDING && attempts[d] >= MAX_ATTEMPTS -> state[d] = FAILED; attempts[d] = 0; unknowns[d] = 0
                            :: else
                            fi;
                            release()
                        :: else
                        fi;
                        working[w] = 0; ok = false
                    :: outcome == PERMANENT ->
                        if
                        :: next_part[d] == n && owner[d] == TOK(w) ->
                            if :: state[d] == PENDING -> state[d] = BOUNCED :: else fi;
                            attempts[d] = 0; unknowns[d] = 0;
                            release()
                        :: else
                        fi;
                        working[w] = 0; ok = false
                    :: outcome == UNKNOWN ->
                        if
                        :: next_part[d] == n && owner[d] == TOK(w) ->
                            unknowns[d]++;
                            if
                            :: state[d] == PENDING && unknowns[d] >= MAX_UNKNOWN -> state[d] = FAILED; attempts[d] = 0; unknowns[d] = 0
                            :: else
                            fi;
                            release()
                        :: else
                        fi;
                        working[w] = 0; ok = false
                    fi;
                    outcome = ACCEPTED
                }
                if :: !ok -> d = NONE; break :: else fi
            od
        od
    } unless {
        d_step {
            crashes < MAX_CRASH ->
            crashes++; gen[w]++;
            if :: d != NONE -> g_crash[d] = true :: else fi;
            working[w] = 0; stale[w] = false
        };
        goto top
    };

    /* Every delivery is final; a sent one has each part recorded exactly once. */
    assert(ALL_FINAL);
    assert(state[0] != SENT || (recorded[IDX(0, 0)] == 1 && recorded[IDX(0, 1)] == 1));
    assert(state[1] != SENT || (recorded[IDX(1, 0)] == 1 && recorded[IDX(1, 1)] == 1))
}

init {
    atomic { run Worker(0); run Worker(1) }
}
