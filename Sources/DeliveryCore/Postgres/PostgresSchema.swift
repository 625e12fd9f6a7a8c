/// The PostgreSQL schema, as migrations applied in order on open, each a list of single statements (the extended
/// query protocol takes one statement at a time). `hooktop_schema` holds one row per migration applied.
///
/// Design: several dispatchers on several machines share this database, so the schema avoids what makes queues on
/// PostgreSQL slow: hot rows, a large queue table and long scans.
///
/// - Times are `bigint` milliseconds since the epoch, as in the SQLite log: every time is the process's `now` (the
///   engine's callers inject it), never the server's, so `timestamptz`'s `now()` defaults would not be used; integers
///   compare and partition without any session time zone, and a log copies between engines value for value.
/// - Row ids are `bigint` identities (`BY DEFAULT`, so that a log copied from another engine can keep its ids; such a
///   copy must then move the sequences past them). Endpoints keep their text ids (`ep_…`).
/// - The log is partitioned by day (UTC): `messages` and `deliveries` by the message's `created_at`, so a message and
///   its deliveries share a day and the key `(message_seq, endpoint_id)` stays unique; `attempts` by `started_at`.
///   So `prune` can drop a day's partitions whole once none of its deliveries is still queued, instead of deleting
///   rows (which bloats the tables and costs vacuum). `hooktop_create_partitions` makes the partitions of a range of days
///   (today and the next days, kept ahead; older days for a copied log). There is no default partition: attaching a
///   day next to a non-empty one would have to scan and lock it, so a row outside every day fails loudly instead.
///   There are no foreign keys between log tables: dropping a referenced partition would have to check the
///   referencing tables first.
/// - Deliveries waiting or in flight are also rows of `delivery_queue`, a small table holding only outstanding work;
///   a delivery that reaches a final status (delivered, dead, cancelled) leaves it, so the queue stays as small as the
///   backlog however long the log grows, and vacuum of it is quick (see its storage settings). A claim touches the
///   queue row only: `available_at` is a visibility timeout (when the delivery is due, or when its lease runs out, so
///   a dead dispatcher's deliveries come back by themselves), `lease_owner` names the holder, and `claims` counts the
///   claims, so that a finisher whose lease ran out and whose delivery was claimed again cannot complete it (it
///   completes only where `claims` is still what it was handed). "In flight" is therefore a queue row leased until
///   a time to come, not a status of `deliveries`. Rows move between the two tables by explicit statements, not by
///   partitioning one table by status (an update moving a row across partitions fails under concurrent claims).
/// - No row is written by every delivery: counts per status, failure groups, per-minute stats and endpoint health
///   are kept per writer (the dispatcher or API process that made the change, `writer_id`) and summed on read; rows of
///   writers that are gone can be folded into one by the maintenance leader (`leases`).
/// - Uniqueness across days: a unique index of a partitioned table must include its partition key, so message ids a
///   publisher chose and idempotency keys are claimed in `message_keys` (generated ids carry their time and random
///   bits, and are not).
/// - Indexes serve the keyset-paged lists (the log newest first by id, merged across days, whole or by status,
///   endpoint or event type; a failure group's deliveries; the retry queue soonest first) and the claim of one
///   endpoint's due deliveries.
/// - Migrations take a transaction-scoped advisory lock (released at commit, so it also works through PgBouncer's
///   transaction pooling, unlike a session lock): two processes starting at once migrate once.
enum PostgresSchema {
    /// The advisory lock taken while migrating (`pg_advisory_xact_lock(namespace, 1)`).
    static let lockNamespace: Int32 = 0x686f_6f6b  // "hook"

    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE endpoints (
                id text PRIMARY KEY,
                url text NOT NULL,
                description text NOT NULL DEFAULT '',
                status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
                disabled_reason text,
                disabled_at bigint,
                event_types text NOT NULL DEFAULT '',
                secret text NOT NULL,
                previous_secret text,
                previous_secret_expires_at bigint,
                max_in_flight integer NOT NULL DEFAULT 32,
                timeout_ms integer NOT NULL DEFAULT 15000,
                allow_private boolean NOT NULL DEFAULT false,
                connection text NOT NULL DEFAULT '{}',
                rate_limit integer,
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL
            )
            """,
            // The last attempt, success and failure streak each writer saw: the endpoint's health is the newest of
            // them (failing since the earliest failure after the newest success), so attempts never update the
            // endpoint's own row.
            """
            CREATE TABLE endpoint_health (
                endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
                writer_id text NOT NULL,
                last_attempt_at bigint,
                last_success_at bigint,
                failing_since bigint,
                last_error text,
                PRIMARY KEY (endpoint_id, writer_id)
            ) WITH (fillfactor = 50)
            """,

            """
            CREATE TABLE messages (
                seq bigint GENERATED BY DEFAULT AS IDENTITY,
                id text NOT NULL,
                event_type text NOT NULL,
                payload text NOT NULL,
                idempotency_key text,
                created_at bigint NOT NULL,
                PRIMARY KEY (seq, created_at)
            ) PARTITION BY RANGE (created_at)
            """,
            "CREATE INDEX messages_id ON messages (id)",
            "CREATE INDEX messages_type ON messages (event_type, seq)",
            // Chosen message ids (kind 'id') and idempotency keys (kind 'idempotency', reused after their window).
            """
            CREATE TABLE message_keys (
                kind text NOT NULL CHECK (kind IN ('id', 'idempotency')),
                key text NOT NULL,
                message_seq bigint NOT NULL,
                message_created_at bigint NOT NULL,
                PRIMARY KEY (kind, key)
            )
            """,
            "CREATE INDEX message_keys_created ON message_keys (message_created_at)",

            // The log of deliveries: status and last outcome; `message_created_at` is the partition key. When a
            // queued delivery is next tried is its queue row's `available_at`.
            """
            CREATE TABLE deliveries (
                id bigint GENERATED BY DEFAULT AS IDENTITY,
                message_seq bigint NOT NULL,
                message_created_at bigint NOT NULL,
                endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
                event_type text NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'retrying', 'delivered', 'dead', 'cancelled')),
                attempt_count integer NOT NULL DEFAULT 0,
                manual_count integer NOT NULL DEFAULT 0,
                last_status_code integer,
                last_error text,
                last_error_class text,
                last_latency_ms integer,
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL,
                PRIMARY KEY (id, message_created_at),
                UNIQUE (message_seq, endpoint_id, message_created_at)
            ) PARTITION BY RANGE (message_created_at)
            """,
            // The log filtered by status / endpoint / event type, newest first (the primary key serves the whole log).
            "CREATE INDEX deliveries_status ON deliveries (status, id)",
            "CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id)",
            "CREATE INDEX deliveries_type ON deliveries (event_type, id)",
            // Failure groups' deliveries, and recovery of an endpoint's failures.
            """
            CREATE INDEX deliveries_failures ON deliveries (endpoint_id, last_error_class, last_status_code, id)
                WHERE status IN ('dead', 'retrying')
            """,
            // Dead deliveries of an endpoint by time (the `deliveries.dead` alert counts a window).
            "CREATE INDEX deliveries_dead ON deliveries (endpoint_id, updated_at) WHERE status = 'dead'",

            // Outstanding work only (see the design above). Its rows are claimed, leased and deleted all day long:
            // autovacuum starts after a fixed number of dead rows (1,000, not a fraction of a table whose size swings
            // with the backlog), is never throttled (a vacuum of a small table is short; a throttled one lets dead
            // rows pile up meanwhile), and statistics are refreshed as often, so the planner keeps seeing a small
            // table with a selective due index. A fill factor of 80 leaves room on each page for the new versions
            // of claimed and rescheduled rows.
            """
            CREATE TABLE delivery_queue (
                delivery_id bigint PRIMARY KEY,
                message_created_at bigint NOT NULL,
                endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
                available_at bigint NOT NULL,
                lease_owner text,
                claims integer NOT NULL DEFAULT 0,
                manual smallint NOT NULL DEFAULT 0
            ) WITH (
                fillfactor = 80,
                autovacuum_vacuum_scale_factor = 0,
                autovacuum_vacuum_threshold = 1000,
                autovacuum_vacuum_insert_scale_factor = 0,
                autovacuum_vacuum_insert_threshold = 1000,
                autovacuum_analyze_scale_factor = 0,
                autovacuum_analyze_threshold = 1000,
                autovacuum_vacuum_cost_delay = 0
            )
            """,
            // The dispatcher's claim: one endpoint's deliveries available now, soonest first (`FOR UPDATE SKIP
            // LOCKED`).
            "CREATE INDEX delivery_queue_due ON delivery_queue (endpoint_id, available_at)",
            // The retry queue soonest first across endpoints, whether anything is due, expired leases.
            "CREATE INDEX delivery_queue_available ON delivery_queue (available_at)",

            """
            CREATE TABLE attempts (
                id bigint GENERATED BY DEFAULT AS IDENTITY,
                delivery_id bigint NOT NULL,
                number integer NOT NULL,
                trigger text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
                started_at bigint NOT NULL,
                duration_ms integer NOT NULL,
                request_headers text NOT NULL,
                response_status integer,
                response_headers text,
                response_body text,
                error_class text,
                error_message text,
                PRIMARY KEY (id, started_at)
            ) PARTITION BY RANGE (started_at)
            """,
            // A delivery's attempts (bounded below by the delivery's `created_at`, which skips older days).
            "CREATE INDEX attempts_delivery ON attempts (delivery_id, number)",

            // Deliveries per endpoint and status: each writer adds what its statements moved.
            """
            CREATE TABLE delivery_counts (
                endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
                status text NOT NULL,
                writer_id text NOT NULL,
                n bigint NOT NULL DEFAULT 0,
                PRIMARY KEY (endpoint_id, status, writer_id)
            ) WITH (fillfactor = 50)
            """,
            // Failing deliveries per endpoint, error class and status code, per writer.
            """
            CREATE TABLE failure_groups (
                endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
                error_class text NOT NULL,
                status_code integer NOT NULL,
                writer_id text NOT NULL,
                dead bigint NOT NULL DEFAULT 0,
                retrying bigint NOT NULL DEFAULT 0,
                last_at bigint NOT NULL DEFAULT 0,
                last_error text,
                PRIMARY KEY (endpoint_id, error_class, status_code, writer_id)
            ) WITH (fillfactor = 50)
            """,
            // Attempts per endpoint per minute (minutes since the epoch) and writer, with a latency histogram (bucket
            // bounds in StatsBuckets). Each dispatcher's own attempts are counted in `worker_minute` (v2).
            """
            CREATE TABLE stats_minute (
                minute bigint NOT NULL,
                endpoint_id text NOT NULL,
                writer_id text NOT NULL,
                attempts bigint NOT NULL DEFAULT 0,
                successes bigint NOT NULL DEFAULT 0,
                failures bigint NOT NULL DEFAULT 0,
                latency_sum_ms bigint NOT NULL DEFAULT 0,
                h0 bigint NOT NULL DEFAULT 0,
                h1 bigint NOT NULL DEFAULT 0,
                h2 bigint NOT NULL DEFAULT 0,
                h3 bigint NOT NULL DEFAULT 0,
                h4 bigint NOT NULL DEFAULT 0,
                h5 bigint NOT NULL DEFAULT 0,
                h6 bigint NOT NULL DEFAULT 0,
                h7 bigint NOT NULL DEFAULT 0,
                h8 bigint NOT NULL DEFAULT 0,
                h9 bigint NOT NULL DEFAULT 0,
                h10 bigint NOT NULL DEFAULT 0,
                h11 bigint NOT NULL DEFAULT 0,
                PRIMARY KEY (minute, endpoint_id, writer_id)
            ) WITH (fillfactor = 70)
            """,

            """
            CREATE TABLE workers (
                id text PRIMARY KEY,
                pid integer NOT NULL,
                host text NOT NULL,
                started_at bigint NOT NULL,
                heartbeat_at bigint NOT NULL,
                version text NOT NULL,
                in_flight integer NOT NULL DEFAULT 0,
                retry_delays text
            ) WITH (fillfactor = 50)
            """,
            // Named leases (the maintenance leader's): a row, not an advisory lock, so it works through poolers.
            """
            CREATE TABLE leases (
                name text PRIMARY KEY,
                owner text NOT NULL,
                expires_at bigint NOT NULL
            ) WITH (fillfactor = 50)
            """,

            """
            CREATE TABLE audit (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                at bigint NOT NULL,
                action text NOT NULL,
                object_type text NOT NULL,
                object_id text NOT NULL,
                detail text NOT NULL DEFAULT '',
                os_user text NOT NULL,
                pid integer NOT NULL,
                via text NOT NULL,
                origin text,
                tty text
            )
            """,
            "CREATE INDEX audit_object ON audit (object_type, object_id, id)",

            """
            CREATE TABLE recoveries (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                endpoint_id text NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
                at bigint NOT NULL,
                total integer NOT NULL
            )
            """,
            "CREATE INDEX recoveries_endpoint ON recoveries (endpoint_id, id)",
            """
            CREATE TABLE recovery_deliveries (
                recovery_id bigint NOT NULL REFERENCES recoveries (id) ON DELETE CASCADE,
                delivery_id bigint NOT NULL,
                message_created_at bigint NOT NULL,
                PRIMARY KEY (recovery_id, delivery_id)
            )
            """,
            "CREATE INDEX recovery_deliveries_delivery ON recovery_deliveries (delivery_id)",

            """
            CREATE TABLE alerts (
                seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                type text NOT NULL,
                object_id text NOT NULL,
                dedup_key text NOT NULL,
                at bigint NOT NULL,
                summary text NOT NULL,
                details text NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'unsent')),
                attempts integer NOT NULL DEFAULT 0,
                next_attempt_at bigint,
                lease_owner text,
                lease_expires_at bigint,
                last_error text,
                sent_at bigint,
                sent_to text NOT NULL DEFAULT '',
                UNIQUE (type, object_id, dedup_key)
            )
            """,
            "CREATE INDEX alerts_recent ON alerts (type, object_id, at)",
            "CREATE INDEX alerts_object ON alerts (object_id, seq)",
            "CREATE INDEX alerts_pending ON alerts (next_attempt_at) WHERE status = 'pending'",
            "CREATE INDEX alerts_at ON alerts (at)",
            // Moved after every write's commit; readers poll `last_value` to know when to read again. A sequence
            // is not transactional and has no row to lock or to leave dead.
            "CREATE SEQUENCE hooktop_changes",
            // API tokens by their SHA-256 digest: every `serve` on the database accepts those in force (see
            // `APITokenLog`); the first `serve` makes one.
            """
            CREATE TABLE api_tokens (
                id text PRIMARY KEY,
                digest text NOT NULL UNIQUE,
                created_at bigint NOT NULL,
                revoked_at bigint
            )
            """,

            // Makes the partitions of `days` days from `first_day` (UTC) that do not exist yet, for the three log
            // tables; returns how many it made. Each is created apart and then attached, which locks the parent
            // only against other schema changes (creating it in place would block every reader of the log for a
            // moment). Callers are serialised by an advisory lock: creating one table twice at once fails.
            """
            CREATE FUNCTION hooktop_create_partitions(first_day date, days integer) RETURNS integer
            LANGUAGE plpgsql AS $$
            DECLARE
                day date;
                low bigint;
                parent text;
                child text;
                made integer := 0;
            BEGIN
                PERFORM pg_advisory_xact_lock(\(lockNamespace), 2);
                FOR i IN 0 .. days - 1 LOOP
                    day := first_day + i;
                    low := extract(epoch FROM day::timestamp)::bigint * 1000;
                    FOREACH parent IN ARRAY ARRAY['messages', 'deliveries', 'attempts'] LOOP
                        child := parent || '_' || to_char(day, 'YYYYMMDD');
                        CONTINUE WHEN to_regclass(quote_ident(child)) IS NOT NULL;
                        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                            child, parent);
                        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
                            parent, child, low, low + 86400000);
                        made := made + 1;
                    END LOOP;
                END LOOP;
                RETURN made;
            END
            $$
            """,
        ],
        // v2: attempts each dispatcher recorded per minute (minutes since the epoch), so every dispatcher's share of
        // the work shows. A dispatcher writes only its own rows, trims them as it heartbeats, and removes them with
        // its `workers` row.
        [
            """
            CREATE TABLE worker_minute (
                worker_id text NOT NULL,
                minute bigint NOT NULL,
                attempts bigint NOT NULL DEFAULT 0,
                PRIMARY KEY (worker_id, minute)
            ) WITH (fillfactor = 70)
            """
        ],
        // v3: the leased queue rows (in flight, or left by a dispatcher that died): what the counts' in-flight part,
        // a clean stop's release and the release of a dead dispatcher's leases read, without reading the backlog.
        [
            "CREATE INDEX delivery_queue_leased ON delivery_queue (lease_owner, available_at) WHERE lease_owner IS NOT NULL"
        ],
        // v4: a token has a name and a maker (`hooktop token create`).
        [
            "ALTER TABLE api_tokens ADD COLUMN name text NOT NULL DEFAULT ''",
            "ALTER TABLE api_tokens ADD COLUMN created_by text NOT NULL DEFAULT ''",
        ],
    ]

    /// The schema version this build writes.
    static var version: Int { migrations.count }
}
