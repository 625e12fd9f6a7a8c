import DeliveryCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus

/// A published message as the API answers it: `POST /v1/events`.
///
/// Written by hand rather than by `JSONEncoder`, which cost more CPU than the rest of the handler: the answer is
/// small, its fields are known, and the payload (valid JSON as scanned) goes out as the bytes that were sent.
struct PublishedMessage {
    var result: PublishResult

    init(_ result: PublishResult) { self.result = result }

    /// `{"id", "type", "idempotency_key", "created_at", "deliveries", "duplicate", "payload"}` and a newline.
    var bytes: [UInt8] {
        let message = result.message
        var out: [UInt8] = []
        out.reserveCapacity(160 + message.payload.utf8.count + (message.idempotencyKey?.utf8.count ?? 0))
        out.append(contentsOf: #"{"id":"#.utf8)
        JSONText.appendString(message.id, to: &out)
        out.append(contentsOf: #","type":"#.utf8)
        JSONText.appendString(message.eventType, to: &out)
        out.append(contentsOf: #","idempotency_key":"#.utf8)
        if let key = message.idempotencyKey { JSONText.appendString(key, to: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","created_at":"#.utf8)
        JSONText.appendString(JSONRepresentation.timestamp(message.createdAt), to: &out)
        out.append(contentsOf: #","deliveries":"#.utf8)
        out.append(contentsOf: String(result.deliveryCount).utf8)
        out.append(contentsOf: #","duplicate":"#.utf8)
        out.append(contentsOf: (result.duplicate ? "true" : "false").utf8)
        out.append(contentsOf: #","payload":"#.utf8)
        out.append(contentsOf: message.payload.utf8)
        out.append(contentsOf: "}\n".utf8)
        return out
    }
}

/// JSON string literals written into bytes.
enum JSONText {
    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `text` as a quoted JSON string (quotes, backslashes and control characters escaped).
    static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A request body scanned once: the document's bytes and its top value.
struct ScannedBody {
    let scanner: JSONScanner
    let root: JSONScanner.Value

    /// Reads at most `limit` bytes and checks that they are one JSON object.
    /// - Throws: 413 over the limit, 400 for malformed JSON or a non-object.
    static func read(_ request: Request, limit: Int) async throws -> ScannedBody {
        let buffer = try await RequestBody.collect(request, limit: limit)
        // No body reads as an empty object, so what is missing is named field by field.
        let scanner = JSONScanner(buffer.readableBytes == 0 ? Array("{}".utf8) : Array(buffer.readableBytesView))
        let root: JSONScanner.Value
        do {
            root = try scanner.document()
        } catch let failure as JSONScanner.Failure {
            throw APIError.badJSON("request body is not valid JSON: \(failure)")
        }
        guard root.kind == .object else { throw APIError.badJSON("request body must be a JSON object") }
        return ScannedBody(scanner: scanner, root: root)
    }
}

extension HookServer {
    /// `POST /v1/events`: one event, answered 202 once it is committed (200 for a repeated idempotency key).
    func publish(_ request: Request) async throws -> Response {
        let body = try await ScannedBody.read(request, limit: configuration.maxBodyBytes)
        let event: PublishRequest
        do {
            event = try PublishRequest.decode(body.root, in: body.scanner, maxPayloadBytes: operations.maxPayloadBytes)
        } catch let error as HooktopError {
            throw APIError.invalid(error.message)
        }
        let result = try await operations.publish(scanned: [event])[0]
        metrics.published.increment()
        return jsonResponse(bytes: PublishedMessage(result).bytes, status: result.duplicate ? .ok : .accepted)
    }

    /// `POST /v1/events/batch`: up to 1,000 events in one transaction, all or none.
    func publishBatch(_ request: Request) async throws -> Response {
        let body = try await ScannedBody.read(request, limit: configuration.maxBatchBytes)
        let scanner = body.scanner
        var eventsValue: JSONScanner.Value?
        for (key, value) in try scanner.members(of: body.root) where key == "events" {
            guard eventsValue == nil else { throw APIError.invalid("events is given twice") }
            eventsValue = value
        }
        guard let eventsValue, eventsValue.kind == .array else {
            throw APIError.invalid("events is required and must be an array of events")
        }
        let items = try scanner.elements(of: eventsValue)
        guard (1...PublishLimits.maxBatchEvents).contains(items.count) else {
            throw APIError.invalid("events must hold 1 to \(PublishLimits.maxBatchEvents) events, not \(items.count)")
        }
        var events: [PublishRequest] = []
        events.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            do {
                events.append(try PublishRequest.decode(item, in: scanner, maxPayloadBytes: operations.maxPayloadBytes))
            } catch let error as HooktopError {
                throw APIError.invalid("events[\(index)]: \(error.message)")
            }
        }
        let results = try await operations.publish(scanned: events)
        metrics.published.increment(by: Int64(results.count))
        let answer = APIAnswer.Batch(
            data: results.map { .init(id: $0.message.id, deliveries: $0.deliveryCount, duplicate: $0.duplicate) })
        return try jsonResponse(answer, status: .accepted)
    }
}

/// A typed answer as JSON (sorted keys, as `--json` writes it) and a newline.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    var data = try JSONRepresentation.data(value)
    data.append(UInt8(ascii: "\n"))
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// A JSON response from encoded bytes.
func jsonResponse(bytes: [UInt8], status: HTTPResponse.Status) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
}

/// Reading request bodies under a limit.
enum RequestBody {
    /// The whole body, at most `limit` bytes.
    /// - Throws: 413 (`payload_too_large`) over the limit.
    static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            // `collect(upTo:)` throws NIOTooManyBytesError, which Hummingbird renders as 413.
            throw APIError(.contentTooLarge, "payload_too_large", "request body is over the limit of \(limit) bytes")
        }
    }
}
