/// The database schema, as migrations applied in order on open (`PRAGMA user_version` counts those applied).
enum Schema {
    static let migrations: [String] = [
        """
        CREATE TABLE endpoints (
            id TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
            disabled_reason TEXT,
            disabled_at INTEGER,
            event_types TEXT NOT NULL DEFAULT '',
            secret TEXT NOT NULL,
            previous_secret TEXT,
            previous_secret_expires_at INTEGER,
            max_in_flight INTEGER NOT NULL DEFAULT 32,
            timeout_ms INTEGER NOT NULL DEFAULT 15000,
            allow_private INTEGER NOT NULL DEFAULT 0,
            last_attempt_at INTEGER,
            last_success_at INTEGER,
            failing_since INTEGER,
            last_error TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );

        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            event_type TEXT NOT NULL,
            payload TEXT NOT NULL,
            idempotency_key TEXT,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX messages_idempotency ON messages (idempotency_key, created_at) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX messages_type ON messages (event_type, seq);
        CREATE INDEX messages_created ON messages (created_at);

        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
            endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
            event_type TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('pending', 'inflight', 'delivered', 'retrying', 'dead', 'cancelled')),
            attempt_count INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            manual INTEGER NOT NULL DEFAULT 0,
            manual_count INTEGER NOT NULL DEFAULT 0,
            last_status_code INTEGER,
            last_error TEXT,
            last_error_class TEXT,
            last_latency_ms INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (message_seq, endpoint_id)
        );
        -- The dispatcher's claim: due deliveries of one endpoint, soonest first.
        CREATE INDEX deliveries_due ON deliveries (endpoint_id, next_attempt_at)
            WHERE status IN ('pending', 'retrying');
        -- The retry queue view, soonest first across endpoints.
        CREATE INDEX deliveries_queue ON deliveries (next_attempt_at, id) WHERE status IN ('pending', 'retrying');
        -- Expired leases of crashed dispatchers.
        CREATE INDEX deliveries_lease ON deliveries (lease_expires_at) WHERE status = 'inflight';
        -- The log filtered by status / endpoint / event type, newest first.
        CREATE INDEX deliveries_status ON deliveries (status, id);
        CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
        CREATE INDEX deliveries_type ON deliveries (event_type, id);
        -- Failure groups and recovery.
        CREATE INDEX deliveries_failures ON deliveries (endpoint_id, last_error_class, last_status_code, id)
            WHERE status IN ('dead', 'retrying');

        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            trigger TEXT NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
            started_at INTEGER NOT NULL,
            duration_ms INTEGER NOT NULL,
            request_headers TEXT NOT NULL,
            response_status INTEGER,
            response_headers TEXT,
            response_body TEXT,
            error_class TEXT,
            error_message TEXT
        );
        CREATE INDEX attempts_delivery ON attempts (delivery_id, number);

        -- Deliveries per endpoint per status, kept by triggers so nobody counts the log.
        CREATE TABLE delivery_counts (
            endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
            status TEXT NOT NULL,
            n INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (endpoint_id, status)
        ) WITHOUT ROWID;
        CREATE TRIGGER endpoints_counts AFTER INSERT ON endpoints BEGIN
            INSERT INTO delivery_counts (endpoint_id, status)
            VALUES (NEW.id, 'pending'), (NEW.id, 'inflight'), (NEW.id, 'delivered'),
                   (NEW.id, 'retrying'), (NEW.id, 'dead'), (NEW.id, 'cancelled');
        END;
        CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries BEGIN
            UPDATE delivery_counts SET n = n + 1 WHERE endpoint_id = NEW.endpoint_id AND status = NEW.status;
        END;
        CREATE TRIGGER deliveries_count_update AFTER UPDATE OF status ON deliveries
        WHEN OLD.status <> NEW.status BEGIN
            UPDATE delivery_counts SET n = n - 1 WHERE endpoint_id = OLD.endpoint_id AND status = OLD.status;
            UPDATE delivery_counts SET n = n + 1 WHERE endpoint_id = NEW.endpoint_id AND status = NEW.status;
        END;
        CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries BEGIN
            UPDATE delivery_counts SET n = n - 1 WHERE endpoint_id = OLD.endpoint_id AND status = OLD.status;
        END;

        -- Failing deliveries per endpoint, error class and status code, kept by triggers for the Failures view.
        CREATE TABLE failure_groups (
            endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
            error_class TEXT NOT NULL,
            status_code INTEGER NOT NULL,
            dead INTEGER NOT NULL DEFAULT 0,
            retrying INTEGER NOT NULL DEFAULT 0,
            last_at INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            PRIMARY KEY (endpoint_id, error_class, status_code)
        ) WITHOUT ROWID;
        CREATE TRIGGER deliveries_failures_update
        AFTER UPDATE OF status, last_error_class, last_status_code ON deliveries BEGIN
            \(moveBetweenFailureGroups)
        END;
        CREATE TRIGGER deliveries_failures_insert AFTER INSERT ON deliveries
        WHEN NEW.status IN ('dead', 'retrying') BEGIN
            INSERT INTO failure_groups (endpoint_id, error_class, status_code, dead, retrying, last_at, last_error)
            VALUES (NEW.endpoint_id, coalesce(NEW.last_error_class, ''), coalesce(NEW.last_status_code, 0),
                NEW.status = 'dead', NEW.status = 'retrying', NEW.updated_at, NEW.last_error)
            ON CONFLICT (endpoint_id, error_class, status_code) DO UPDATE SET dead = dead + excluded.dead,
                retrying = retrying + excluded.retrying, last_at = max(last_at, excluded.last_at),
                last_error = excluded.last_error;
        END;
        CREATE TRIGGER deliveries_failures_delete AFTER DELETE ON deliveries WHEN OLD.status IN ('dead', 'retrying') BEGIN
            UPDATE failure_groups SET dead = dead - (OLD.status = 'dead'), retrying = retrying - (OLD.status = 'retrying')
            WHERE endpoint_id = OLD.endpoint_id AND error_class = coalesce(OLD.last_error_class, '')
                AND status_code = coalesce(OLD.last_status_code, 0);
        END;

        -- Attempts per endpoint per minute, with a latency histogram (bucket bounds in StatsBuckets).
        CREATE TABLE stats_minute (
            endpoint_id TEXT NOT NULL,
            minute INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            latency_sum_ms INTEGER NOT NULL DEFAULT 0,
            h0 INTEGER NOT NULL DEFAULT 0,
            h1 INTEGER NOT NULL DEFAULT 0,
            h2 INTEGER NOT NULL DEFAULT 0,
            h3 INTEGER NOT NULL DEFAULT 0,
            h4 INTEGER NOT NULL DEFAULT 0,
            h5 INTEGER NOT NULL DEFAULT 0,
            h6 INTEGER NOT NULL DEFAULT 0,
            h7 INTEGER NOT NULL DEFAULT 0,
            h8 INTEGER NOT NULL DEFAULT 0,
            h9 INTEGER NOT NULL DEFAULT 0,
            h10 INTEGER NOT NULL DEFAULT 0,
            h11 INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (minute, endpoint_id)
        ) WITHOUT ROWID;

        CREATE TABLE workers (
            id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            heartbeat_at INTEGER NOT NULL,
            version TEXT NOT NULL,
            in_flight INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            os_user TEXT NOT NULL,
            pid INTEGER NOT NULL,
            via TEXT NOT NULL
        );
        CREATE INDEX audit_object ON audit (object_type, object_id, id);
        """,
        // v2: the failure groups trigger runs only when a failing status is involved (most updates are claims and
        // successes, which it left unchanged anyway); expired leases are found through `deliveries_status` (the
        // in-flight rows are few), so no index is maintained for them on every claim and record.
        """
        DROP INDEX deliveries_lease;
        DROP TRIGGER deliveries_failures_update;
        CREATE TRIGGER deliveries_failures_update
        AFTER UPDATE OF status, last_error_class, last_status_code ON deliveries
        WHEN OLD.status IN ('dead', 'retrying') OR NEW.status IN ('dead', 'retrying') BEGIN
            \(moveBetweenFailureGroups)
        END;
        """,
        // v3: status changes are counted by the statements that make them (`StatusMoves`), not by a row trigger.
        """
        DROP TRIGGER deliveries_count_update;
        """,
        // v4: inserts are counted by the statements that make them too: any row trigger on INSERT, even one whose
        // WHEN never holds, made each delivery insert about a third dearer. Publishing and recovery insert pending
        // deliveries only; seeding recounts. The counts are rebuilt from the log once, which also heals any drift
        // left by a process of an older version writing after an upgrade.
        """
        DROP TRIGGER deliveries_count_insert;
        DROP TRIGGER deliveries_failures_insert;
        \(recountSummaries)
        """,
        // v5: the same deliveries table with its status CHECK spelled as comparisons. SQLite evaluates a CHECK on
        // every insert and status change, and an IN list of more than two values inside a CHECK builds a temporary
        // b-tree each time (measured: ~3 µs per insert, claim and record). SQLite cannot alter a constraint, so the
        // table is rebuilt as its documentation describes (new table, copy, drop, rename, indexes and triggers
        // again), with foreign keys off around the migration so the drop cascades nowhere.
        """
        CREATE TABLE deliveries_v5 (
            id INTEGER PRIMARY KEY,
            message_seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
            endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
            event_type TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status = 'pending' OR status = 'inflight' OR status = 'delivered'
                OR status = 'retrying' OR status = 'dead' OR status = 'cancelled'),
            attempt_count INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            manual INTEGER NOT NULL DEFAULT 0,
            manual_count INTEGER NOT NULL DEFAULT 0,
            last_status_code INTEGER,
            last_error TEXT,
            last_error_class TEXT,
            last_latency_ms INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (message_seq, endpoint_id)
        );
        INSERT INTO deliveries_v5 (\(deliveryColumns)) SELECT \(deliveryColumns) FROM deliveries;
        DROP TABLE deliveries;
        ALTER TABLE deliveries_v5 RENAME TO deliveries;
        CREATE INDEX deliveries_due ON deliveries (endpoint_id, next_attempt_at) WHERE status IN ('pending', 'retrying');
        CREATE INDEX deliveries_queue ON deliveries (next_attempt_at, id) WHERE status IN ('pending', 'retrying');
        CREATE INDEX deliveries_status ON deliveries (status, id);
        CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
        CREATE INDEX deliveries_type ON deliveries (event_type, id);
        CREATE INDEX deliveries_failures ON deliveries (endpoint_id, last_error_class, last_status_code, id)
            WHERE status IN ('dead', 'retrying');
        CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries BEGIN
            UPDATE delivery_counts SET n = n - 1 WHERE endpoint_id = OLD.endpoint_id AND status = OLD.status;
        END;
        CREATE TRIGGER deliveries_failures_update
        AFTER UPDATE OF status, last_error_class, last_status_code ON deliveries
        WHEN OLD.status IN ('dead', 'retrying') OR NEW.status IN ('dead', 'retrying') BEGIN
            \(moveBetweenFailureGroups)
        END;
        CREATE TRIGGER deliveries_failures_delete AFTER DELETE ON deliveries WHEN OLD.status IN ('dead', 'retrying') BEGIN
            UPDATE failure_groups SET dead = dead - (OLD.status = 'dead'), retrying = retrying - (OLD.status = 'retrying')
            WHERE endpoint_id = OLD.endpoint_id AND error_class = coalesce(OLD.last_error_class, '')
                AND status_code = coalesce(OLD.last_status_code, 0);
        END;
        """,
        // v6: each dispatcher records the retry schedule it runs (delays in seconds, comma-separated), so readers
        // show attempts against the policy in force instead of guessing it.
        // The audit records where an operator came from (SSH client address) and on which terminal. A recovery
        // remembers the deliveries it queued, so its progress can be followed.
        """
        ALTER TABLE workers ADD COLUMN retry_delays TEXT;
        ALTER TABLE audit ADD COLUMN origin TEXT;
        ALTER TABLE audit ADD COLUMN tty TEXT;
        CREATE TABLE recoveries (
            id INTEGER PRIMARY KEY,
            endpoint_id TEXT NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
            at INTEGER NOT NULL,
            total INTEGER NOT NULL
        );
        CREATE INDEX recoveries_endpoint ON recoveries (endpoint_id, id);
        CREATE TABLE recovery_deliveries (
            recovery_id INTEGER NOT NULL REFERENCES recoveries (id) ON DELETE CASCADE,
            delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
            PRIMARY KEY (recovery_id, delivery_id)
        ) WITHOUT ROWID;
        CREATE INDEX recovery_deliveries_delivery ON recovery_deliveries (delivery_id);
        """,
        // v7: how requests reach an endpoint beyond its URL (extra headers, outbound credentials, TLS trust and client
        // identity, a retry schedule of its own), as JSON: read and written whole with the endpoint.
        """
        ALTER TABLE endpoints ADD COLUMN connection TEXT NOT NULL DEFAULT '{}';
        """,
        // v8: an endpoint's rate limit, requests started per second (NULL: none).
        """
        ALTER TABLE endpoints ADD COLUMN rate_limit INTEGER;
        """,
        // v9: operational alerts, each recorded once (its type, object and key unique) and sent under a lease; dead
        // deliveries by endpoint and time, so the `deliveries.dead` check counts a window without reading the rest
        // (only rows that died are in it).
        """
        CREATE TABLE alerts (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            dedup_key TEXT NOT NULL,
            at INTEGER NOT NULL,
            summary TEXT NOT NULL,
            details TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'unsent')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            lease_owner TEXT,
            lease_expires_at INTEGER,
            last_error TEXT,
            sent_at INTEGER,
            sent_to TEXT NOT NULL DEFAULT '',
            UNIQUE (type, object_id, dedup_key)
        );
        CREATE INDEX alerts_recent ON alerts (type, object_id, at);
        CREATE INDEX alerts_object ON alerts (object_id, seq);
        CREATE INDEX alerts_at ON alerts (at);
        CREATE INDEX alerts_pending ON alerts (next_attempt_at) WHERE status = 'pending';
        CREATE INDEX deliveries_dead ON deliveries (endpoint_id, updated_at) WHERE status = 'dead';
        """,
        // v10: attempts each dispatcher recorded per minute, so every dispatcher's share of the work shows (its own
        // rows only: it trims them as it heartbeats, and they go with its `workers` row).
        """
        CREATE TABLE worker_minute (
            worker_id TEXT NOT NULL,
            minute INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (worker_id, minute)
        ) WITHOUT ROWID;
        """,
        // v11: API tokens by their SHA-256 digest, as on PostgreSQL: every `serve` on the log accepts those in force,
        // and `hooktop token` makes and revokes them. The token file of earlier versions (`<database>.token`) is taken
        // in as a token when this migration runs (`Store.importTokenFile`).
        """
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            created_at INTEGER NOT NULL,
            created_by TEXT NOT NULL DEFAULT '',
            revoked_at INTEGER
        );
        """,
    ]

    /// The migration that made `api_tokens` (its version): the token file is taken in when a log reaches it.
    static let apiTokensVersion = 11

    /// Every column of `deliveries`, in table order.
    private static let deliveryColumns = """
        id, message_seq, endpoint_id, event_type, status, attempt_count, next_attempt_at, lease_owner, \
        lease_expires_at, manual, manual_count, last_status_code, last_error, last_error_class, last_latency_ms, \
        created_at, updated_at
        """

    /// Rebuilds `delivery_counts` from the deliveries themselves (one pass over the log).
    static let recountDeliveryCounts = """
        WITH counted (endpoint_id, status, n) AS MATERIALIZED (
            SELECT endpoint_id, status, count(*) FROM deliveries GROUP BY endpoint_id, status)
        UPDATE delivery_counts SET n = coalesce((SELECT counted.n FROM counted
            WHERE counted.endpoint_id = delivery_counts.endpoint_id AND counted.status = delivery_counts.status), 0);
        """

    /// Rebuilds `delivery_counts` and `failure_groups` from the deliveries themselves (one pass over the log).
    static let recountSummaries = """
        \(recountDeliveryCounts)
        DELETE FROM failure_groups;
        -- The bare last_error comes from the row holding max(updated_at).
        INSERT INTO failure_groups (endpoint_id, error_class, status_code, dead, retrying, last_at, last_error)
        SELECT endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0), sum(status = 'dead'),
            sum(status = 'retrying'), max(updated_at), last_error
        FROM deliveries WHERE status IN ('dead', 'retrying')
        GROUP BY endpoint_id, coalesce(last_error_class, ''), coalesce(last_status_code, 0);
        """

    /// The failure groups trigger's body: the delivery leaves its old group (if failing) and joins its new one.
    private static let moveBetweenFailureGroups = """
        UPDATE failure_groups SET dead = dead - (OLD.status = 'dead'), retrying = retrying - (OLD.status = 'retrying')
            WHERE OLD.status IN ('dead', 'retrying') AND endpoint_id = OLD.endpoint_id
                AND error_class = coalesce(OLD.last_error_class, '') AND status_code = coalesce(OLD.last_status_code, 0);
            INSERT INTO failure_groups (endpoint_id, error_class, status_code, dead, retrying, last_at, last_error)
            SELECT NEW.endpoint_id, coalesce(NEW.last_error_class, ''), coalesce(NEW.last_status_code, 0),
                NEW.status = 'dead', NEW.status = 'retrying', NEW.updated_at, NEW.last_error
            WHERE NEW.status IN ('dead', 'retrying')
            ON CONFLICT (endpoint_id, error_class, status_code) DO UPDATE SET dead = dead + excluded.dead,
                retrying = retrying + excluded.retrying, last_at = max(last_at, excluded.last_at),
                last_error = excluded.last_error;
        """

    /// The schema version this build writes.
    static var version: Int { migrations.count }
}
