-- Schema of github.com/backstop-go/backstop/idempotency/pgstore.
--
-- pgstore.Migrate applies this file in one transaction, under an advisory
-- lock, so that instances starting together do not race. Every statement
-- can run again (IF NOT EXISTS, CREATE OR REPLACE): apply it as it is from
-- your own migration tool if you prefer. Objects are created in the first
-- schema of the search_path.

-- One row per record. scope and id are the hex digests the idempotency
-- middleware derives from the caller and the client's key: neither is
-- stored in clear.
CREATE TABLE IF NOT EXISTS backstop_idempotency (
    scope          text        NOT NULL,
    id             text        NOT NULL,
    state          smallint    NOT NULL,          -- 0 released, 1 pending, 2 done
    fingerprint    text        NOT NULL,
    token          text,                          -- the owner's token while pending
    fence          bigint      NOT NULL,          -- the current or last owner's fence
    lease_until    timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,          -- the row is dead from then on
    status         integer,
    header         bytea,
    body           bytea,
    not_replayable text,
    size           bigint      NOT NULL DEFAULT 0, -- bytes of header and body, for the budget
    PRIMARY KEY (scope, id)
);

-- Cleanup finds expired rows through it.
CREATE INDEX IF NOT EXISTS backstop_idempotency_expires_at ON backstop_idempotency (expires_at);

-- Claim, as idempotency.Store.Claim documents it, in one call. Outcomes:
-- 1 claimed, 2 in flight, 3 completed, 4 mismatch, 5 over budget (the
-- values of idempotency.Outcome). p_now NULL means the database's clock.
--
-- p_in_tx: the claim runs inside the caller's transaction (pgstore's
-- transactional mode). Before it writes, it takes a transaction-scoped
-- advisory lock on the key without waiting, so a second request with the
-- key is told "in flight" at once instead of queueing behind the first
-- one's transaction; the lock and the pending row it writes go away with
-- that transaction. Outside a transaction (p_in_tx false) the function is its
-- own transaction, and new records of a scope are serialised by a lock on
-- the scope, so that concurrent claims cannot overrun its budget.
CREATE OR REPLACE FUNCTION backstop_idempotency_claim(
    p_scope text, p_id text, p_fingerprint text, p_token text,
    p_lease_us bigint, p_retention_us bigint, p_max_records bigint, p_max_bytes bigint,
    p_now timestamptz, p_in_tx boolean,
    OUT outcome smallint, OUT fence bigint, OUT takeover boolean, OUT wait_us bigint,
    OUT status integer, OUT header bytea, OUT body bytea, OUT not_replayable text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_now    timestamptz := coalesce(p_now, clock_timestamp());
    v_now_us bigint := floor(extract(epoch FROM v_now) * 1000000)::bigint;
    v_lease  interval := p_lease_us * interval '1 microsecond';
    v_life   interval := (p_lease_us + p_retention_us) * interval '1 microsecond';
    r        backstop_idempotency%ROWTYPE;
    v_have   boolean;
    v_count  bigint;
    v_bytes  bigint;
    v_oldest timestamptz;
    v_locked boolean := false;
    -- Advisory locks are database-wide: the table's oid keeps the locks of
    -- tables in different schemas apart.
    v_lock   text := 'backstop_idempotency ' || 'backstop_idempotency'::regclass::oid::text || ' ';
BEGIN
    takeover := false;
    LOOP
        SELECT * INTO r FROM backstop_idempotency t WHERE t.scope = p_scope AND t.id = p_id;
        v_have := FOUND;
        IF v_have AND r.state <> 0 AND r.expires_at > v_now THEN
            IF r.fingerprint <> p_fingerprint THEN
                outcome := 4;
                RETURN;
            END IF;
            IF r.state = 2 THEN
                outcome := 3;
                status := r.status;
                header := r.header;
                body := r.body;
                not_replayable := r.not_replayable;
                RETURN;
            END IF;
            IF r.lease_until > v_now THEN
                outcome := 2;
                wait_us := floor(extract(epoch FROM r.lease_until - v_now) * 1000000)::bigint;
                RETURN;
            END IF;
        END IF;
        -- Only a claim that will write takes the key's lock, so replays,
        -- mismatches and refusals never hold it. Once it is taken, look
        -- again: under READ COMMITTED the next statement sees a commit
        -- made by the lock's previous holder.
        IF p_in_tx AND NOT v_locked THEN
            IF NOT pg_try_advisory_xact_lock(hashtextextended(v_lock || 'key ' || p_scope || ' ' || p_id, 0)) THEN
                outcome := 2;
                RETURN;
            END IF;
            v_locked := true;
            CONTINUE;
        END IF;
        IF v_have AND r.state <> 0 AND r.expires_at > v_now THEN
            -- The owner's lease ran out: take the record over, unless it
            -- changed since it was read.
            UPDATE backstop_idempotency t
               SET token = p_token, fence = greatest(v_now_us, t.fence + 1),
                   lease_until = v_now + v_lease, expires_at = v_now + v_life
             WHERE t.scope = p_scope AND t.id = p_id AND t.state = 1
               AND t.token = r.token AND t.fence = r.fence
            RETURNING t.fence INTO fence;
            IF FOUND THEN
                outcome := 1;
                takeover := true;
                RETURN;
            END IF;
            CONTINUE;
        END IF;

        -- A new record (no row, or a released or expired one): check the
        -- scope's budget first.
        IF p_max_records > 0 OR p_max_bytes > 0 THEN
            IF NOT p_in_tx THEN
                PERFORM pg_advisory_xact_lock(hashtextextended(v_lock || 'scope ' || p_scope, 0));
            END IF;
            SELECT count(*), coalesce(sum(t.size), 0), min(t.expires_at)
              INTO v_count, v_bytes, v_oldest
              FROM backstop_idempotency t
             WHERE t.scope = p_scope AND t.state <> 0 AND t.expires_at > v_now AND t.id <> p_id;
            IF (p_max_records > 0 AND v_count >= p_max_records) OR (p_max_bytes > 0 AND v_bytes >= p_max_bytes) THEN
                outcome := 5;
                wait_us := greatest(0, floor(extract(epoch FROM v_oldest - v_now) * 1000000))::bigint;
                RETURN;
            END IF;
        END IF;

        IF v_have THEN
            -- Reuse the dead row, and its fence, so fences grow across
            -- releases and retention.
            UPDATE backstop_idempotency t
               SET state = 1, fingerprint = p_fingerprint, token = p_token,
                   fence = greatest(v_now_us, t.fence + 1),
                   lease_until = v_now + v_lease, expires_at = v_now + v_life,
                   status = NULL, header = NULL, body = NULL, not_replayable = NULL, size = 0
             WHERE t.scope = p_scope AND t.id = p_id AND (t.state = 0 OR t.expires_at <= v_now)
            RETURNING t.fence INTO fence;
        ELSE
            INSERT INTO backstop_idempotency AS t
                   (scope, id, state, fingerprint, token, fence, lease_until, expires_at)
            VALUES (p_scope, p_id, 1, p_fingerprint, p_token, v_now_us, v_now + v_lease, v_now + v_life)
            ON CONFLICT DO NOTHING
            RETURNING t.fence INTO fence;
        END IF;
        IF FOUND THEN
            outcome := 1;
            RETURN;
        END IF;
        -- Another claim got there first: look again.
    END LOOP;
END
$$;
