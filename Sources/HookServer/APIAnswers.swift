import DeliveryCore

/// The API's answers that are its own (the shared objects, `EndpointObject`, `DeliveryObject`, ..., live in the core
/// because `--json` prints them too).
enum APIAnswer {
    /// `GET /healthz`.
    struct Health: Encodable, Sendable {
        struct Worker: Encodable, Sendable {
            var pid: Int
            var host: String
            var inFlight: Int

            enum CodingKeys: String, CodingKey {
                case pid, host, inFlight = "in_flight"
            }
        }

        /// `ok`, or `unavailable` when the log takes no writes.
        var status: String
        var writable: Bool
        @ExplicitNull var reason: String?
        /// `alive` or `none`.
        var dispatcher: String
        @ExplicitNull var worker: Worker?
    }

    /// A list and the cursor of the next page (null on the last page).
    struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
        var data: [Item]
        @ExplicitNull var nextCursor: String?

        enum CodingKeys: String, CodingKey {
            case data, nextCursor = "next_cursor"
        }
    }

    /// `GET /v1/endpoints`: every endpoint, no cursor.
    struct List<Item: Encodable & Sendable>: Encodable, Sendable {
        var data: [Item]
    }

    /// `POST /v1/endpoints/{id}/recover`.
    struct Recovered: Encodable, Sendable {
        var endpointId: String
        var queued: Int
        var since: String

        enum CodingKeys: String, CodingKey {
            case queued, since, endpointId = "endpoint_id"
        }
    }

    /// `POST /v1/deliveries/{id}/redeliver`: `queued` for the dispatcher, or `performed` with the attempt.
    struct Redelivered: Encodable, Sendable {
        var id: String
        var result: String
        var attempt: AttemptObject?
    }

    /// `POST /v1/deliveries/{id}/cancel`.
    struct Cancelled: Encodable, Sendable {
        var id: String
        var status = "cancelled"
    }

    /// `POST /v1/deliveries/redeliver`: how many deliveries matched (`dry_run`) or were queued.
    struct Replayed: Encodable, Sendable {
        var matched: Int?
        var queued: Int?
        var dryRun: Bool

        enum CodingKeys: String, CodingKey {
            case matched, queued, dryRun = "dry_run"
        }
    }

    /// `{"error": {"code", "message"}}`.
    struct Failure: Encodable, Sendable {
        struct Detail: Encodable, Sendable {
            var code: String
            var message: String
        }

        var error: Detail
    }

    /// `POST /v1/events/batch`: one item per event, in the order sent.
    struct Batch: Encodable, Sendable {
        struct Item: Encodable, Sendable {
            var id: String
            var deliveries: Int
            var duplicate: Bool
        }

        var data: [Item]
    }
}
