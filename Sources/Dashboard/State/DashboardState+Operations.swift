import DeliveryCore
import Foundation

extension DashboardState {
    /// The action dispatcher: the one place where a key asks for an operation, and so where read-only is enforced.
    mutating func request(_ command: Command) -> [Effect] {
        if options.readOnly {
            say("read-only: actions are disabled (opened with --read-only)", .error)
            return []
        }
        switch command {
        case .pause:
            guard let endpointId = targetEndpointId else { return refuse("select an endpoint or a delivery first") }
            switch endpointStatus(endpointId) {
            case .active?: return start(.pause(endpointId: endpointId))
            case .paused?: return start(.resume(endpointId: endpointId))
            case .disabled?: return refuse("\(endpointName(endpointId)) is disabled: d enables it (Endpoints view)")
            case nil: return start(.togglePause(endpointId: endpointId))
            }
        case .disable:
            guard let endpointId = targetEndpointId, let status = endpointStatus(endpointId) else {
                return refuse("select an endpoint in the Endpoints view (1) first")
            }
            let question: String
            let operation: OperatorAction
            if status == .disabled {
                question = "Enable \(endpointName(endpointId)) (\(endpointId))? Held deliveries will be sent."
                operation = .enable(endpointId: endpointId)
            } else {
                question =
                    "Disable \(endpointName(endpointId)) (\(endpointId))? Deliveries are held and new events skip it."
                operation = .disable(endpointId: endpointId)
            }
            modal = .confirm(Confirmation(question: question, operation: operation))
        case .redeliver:
            guard let delivery = targetDelivery else { return refuse("select a delivery first") }
            guard delivery.status != .inflight else { return refuse("#\(delivery.id) is in flight right now") }
            return start(.redeliver(deliveryId: delivery.id, previousAttempts: delivery.attemptCount))
        case .recover:
            // On a failure group: that group's dead deliveries (endpoint × error class × status) since a time.
            if detail == nil, view == .failures, case .group(let group, _)? = selectedRow {
                guard group.errorClass != nil else {
                    return refuse("this group has no error class to name: replay it with hooktop redeliver --status dead")
                }
                if let status = endpointStatus(group.endpointId), status != .active {
                    return refuse(
                        "\(endpointName(group.endpointId)) is \(status.rawValue): \(status == .paused ? "p resumes" : "d enables") it first (Endpoints view)")
                }
                var filter = DeliveryFilter(status: .dead, endpointId: group.endpointId, errorClass: group.errorClass)
                filter.statusCode = group.statusCode
                modal = .replaySince(filter, editor: LineEditor("1h"))
                return []
            }
            // On the Deliveries view with a filter: the filtered set, when a replay can name it.
            if detail == nil, view == .deliveries, let query = filters[.deliveries], !query.isEmpty {
                guard let filter = Self.replayFilter(query) else {
                    return refuse(
                        "R replays a filter of one status (dead, cancelled or delivered) with ep:, type:, since: and until: only")
                }
                modal = .countingReplay(filter)
                return [.countReplay(filter)]
            }
            guard let endpointId = targetEndpointId else { return refuse("select an endpoint or a delivery first") }
            modal = .recoverSince(endpointId: endpointId, editor: LineEditor("1h"))
        case .rateLimit:
            guard let endpointId = targetEndpointId else { return refuse("select an endpoint first") }
            let current = endpoints.first { $0.endpoint.id == endpointId }?.endpoint.rateLimit
            modal = .rateLimit(endpointId: endpointId, editor: LineEditor(current.map(String.init) ?? "none"))
        case .testPing:
            guard let endpointId = targetEndpointId else { return refuse("select an endpoint first") }
            return start(.testPing(endpointId: endpointId))
        case .cancelRetry:
            guard let delivery = targetDelivery else { return refuse("select a delivery first") }
            guard DeliveryStatus.waiting.contains(delivery.status) else {
                return refuse(
                    "#\(delivery.id) is \(delivery.status.rawValue): only pending or retrying can be cancelled")
            }
            let question =
                "Cancel the pending retry of #\(delivery.id) (\(Sanitizer.line(delivery.eventType)) → \(endpointName(delivery.endpointId)), "
                + "attempt \(attemptText(delivery, long: true)))?"
            modal = .confirm(Confirmation(question: question, operation: .cancel(deliveryId: delivery.id)))
        default:
            break
        }
        return []
    }

    private mutating func refuse(_ text: String) -> [Effect] {
        say(text, .error)
        return []
    }

    private mutating func start(_ operation: OperatorAction) -> [Effect] {
        say("\(describe(operation))…", .info, for: 30)
        return [.perform(operation)]
    }

    /// `pause Acme billing`: an operation as the footer names it.
    func describe(_ operation: OperatorAction) -> String {
        switch operation {
        case .pause(let id): "pause \(endpointName(id))"
        case .resume(let id): "resume \(endpointName(id))"
        case .togglePause(let id): "pause/resume \(endpointName(id))"
        case .disable(let id): "disable \(endpointName(id))"
        case .enable(let id): "enable \(endpointName(id))"
        case .recover(let id, _): "recover \(endpointName(id))"
        case .testPing(let id): "ping \(endpointName(id))"
        case .replay(let filter) where filter.errorClass == nil && filter.since == nil:
            "replay the filtered \(filter.status.rawValue) deliveries"
        case .replay(let filter): "replay \(Self.groupName(filter)) failures of \(endpointName(filter.endpointId ?? ""))"
        case .setRateLimit(let id, _): "rate limit of \(endpointName(id))"
        case .redeliver, .cancel: operation.summary
        }
    }

    /// The endpoint an action applies to: the detail's, or the selected row's.
    var targetEndpointId: String? {
        if detail != nil { return detailData?.endpoint.id }
        return selectedRow?.endpointId
    }

    /// The delivery an action applies to: the detail's, or the selected row's.
    var targetDelivery: Delivery? {
        if detail != nil { return detailData?.delivery }
        return selectedRow?.delivery
    }

    func endpointStatus(_ id: String) -> EndpointStatus? {
        if let detailData, detailData.endpoint.id == id { return detailData.endpoint.status }
        return endpoints.first { $0.endpoint.id == id }?.endpoint.status
    }

    /// Keys of a scrolling overlay: Esc, q, Enter, Backspace and its own key close it; j/k and the arrows scroll it.
    private mutating func scrollOverlay(_ key: Key, _ scroll: Int, closedBy own: Character, _ make: (Int) -> Modal) {
        switch key {
        case .escape, .char("q"), .char(own), .enter, .backspace: modal = nil
        case .down, .char("j"): modal = make(scroll + 1)
        case .up, .char("k"): modal = make(max(0, scroll - 1))
        default: break
        }
    }

    /// Keys while a modal is open.
    mutating func handle(key: Key, in modal: Modal) -> [Effect] {
        switch modal {
        case .audit(let endpointId, let scroll):
            scrollOverlay(key, scroll, closedBy: "A") { .audit(endpointId: endpointId, scroll: $0) }
        case .alerts(let scroll):
            scrollOverlay(key, scroll, closedBy: "!") { .alerts(scroll: $0) }
        case .dispatchers(let scroll):
            scrollOverlay(key, scroll, closedBy: "D") { .dispatchers(scroll: $0) }
        case .help(let scroll):
            scrollOverlay(key, scroll, closedBy: "?") { .help(scroll: $0) }
        case .filter(var editor):
            switch key {
            case .escape: self.modal = nil
            case .enter:
                self.modal = nil
                var query = FilterQuery.parse(editor.text, now: now)
                var note: String?
                if view == .deliveries, !query.text.isEmpty, query.since == nil {
                    note = "searching the newest \(Formatting.count(Int(DeliveryQuery.textSearchWindow))) deliveries for \(query.text) (since: reaches further)"
                }
                if let name = query.endpointName, query.endpointId == nil {
                    // `ep:Globex`: an endpoint's description or a fragment of its URL.
                    let needle = name.lowercased()
                    let matching = endpoints.map(\.endpoint).filter {
                        $0.description.lowercased().contains(needle) || $0.url.lowercased().contains(needle)
                    }
                    guard let first = matching.first else {
                        say("no endpoint's name or URL contains \(name)", .error)
                        return []
                    }
                    query.endpointId = first.id
                    if matching.count > 1 {
                        note = "ep:\(name) matches \(matching.count) endpoints; showing \(endpointName(first.id))"
                    }
                }
                filters[view] = query.isEmpty ? nil : query
                list = ListState()
                loaded = false
                if !query.unknown.isEmpty {
                    say(
                        "not understood: \(query.unknown.joined(separator: " ")) (status: takes \(Self.statusNames))",
                        .error)
                } else {
                    say(note ?? (query.isEmpty ? "filter cleared" : "filter: \(query.description)"), for: note == nil ? nil : 8)
                }
            default:
                if editor.handle(key) { self.modal = .filter(editor) }
            }
        case .recoverSince(let endpointId, var editor):
            switch key {
            case .escape:
                self.modal = nil
                say("recover cancelled")
            case .enter:
                guard let since = since(typed: editor) else { return [] }
                self.modal = .counting(endpointId: endpointId)
                return [.countRecoverable(endpointId: endpointId, since: since)]
            default:
                if editor.handle(key) { self.modal = .recoverSince(endpointId: endpointId, editor: editor) }
            }
        case .counting:
            if key == .escape || key == .char("n") {
                self.modal = nil
                say("recover cancelled")
            }
        case .replaySince(var filter, var editor):
            switch key {
            case .escape:
                self.modal = nil
                say("replay cancelled")
            case .enter:
                guard let since = since(typed: editor) else { return [] }
                filter.since = since
                self.modal = .countingReplay(filter)
                return [.countReplay(filter)]
            default:
                if editor.handle(key) { self.modal = .replaySince(filter, editor: editor) }
            }
        case .rateLimit(let endpointId, var editor):
            switch key {
            case .escape:
                self.modal = nil
                say("rate limit unchanged")
            case .enter:
                let text = editor.text.trimmingCharacters(in: .whitespaces)
                if text == "none" || text == "0" || text.isEmpty {
                    self.modal = nil
                    return start(.setRateLimit(endpointId: endpointId, limit: nil))
                }
                guard let limit = Int(text), (1...10_000).contains(limit) else {
                    say("a rate limit is 1 to 10000 requests per second, or none", .error)
                    return []
                }
                self.modal = nil
                return start(.setRateLimit(endpointId: endpointId, limit: limit))
            default:
                if editor.handle(key) { self.modal = .rateLimit(endpointId: endpointId, editor: editor) }
            }
        case .countingReplay:
            if key == .escape || key == .char("n") {
                self.modal = nil
                say("replay cancelled")
            }
        case .confirm(let confirmation):
            switch key {
            case .char("y"), .char("Y"), .enter:
                self.modal = nil
                return start(confirmation.operation)
            case .char("n"), .char("N"), .escape, .char("q"):
                self.modal = nil
                say("cancelled: nothing was changed")
            default:
                break
            }
        }
        return []
    }

    /// The time a "since how long ago?" prompt names, or nil (said in the footer) when it is not a duration.
    private mutating func since(typed editor: LineEditor) -> Date? {
        guard let seconds = Formatting.parseDuration(editor.text) else {
            say("not a duration: \(editor.text) (try 30m, 2h, 1d)", .error)
            return nil
        }
        return now.addingTimeInterval(-seconds)
    }

    private static var statusNames: String { DeliveryStatus.allCases.map(\.rawValue).joined(separator: ",") }

    /// A failure group's replay was counted: ask, naming the count.
    mutating func counted(_ filter: DeliveryFilter, _ result: Result<Int, OperationError>) -> [Effect] {
        guard modal == .countingReplay(filter) else { return [] }
        let time = filter.since.map { Formatting.shortClock($0, timeZone: options.timeZone) } ?? "ever"
        let group = Self.groupName(filter)
        // A Deliveries filter (no error class, no "since"): named by the filter.
        if filter.errorClass == nil, filter.since == nil {
            switch result {
            case .failure(let error):
                modal = nil
                say("cannot count the filtered deliveries: \(Sanitizer.line(error.message))", .error)
            case .success(0):
                modal = nil
                say("nothing to replay: the filter matches no \(filter.status.rawValue) delivery of an active endpoint")
            case .success(let count):
                modal = .confirm(
                    Confirmation(
                        question: "Redeliver the \(count) \(filter.status.rawValue) deliver\(count == 1 ? "y" : "ies") this filter shows?",
                        operation: .replay(filter)))
            }
            return []
        }
        switch result {
        case .failure(let error):
            modal = nil
            say("cannot count the \(group) failures: \(Sanitizer.line(error.message))", .error)
        case .success(0):
            modal = nil
            say("nothing to replay: no dead \(group) deliveries to \(endpointName(filter.endpointId ?? "")) since \(time)")
        case .success(let count):
            let noun = count == 1 ? "delivery" : "deliveries"
            modal = .confirm(
                Confirmation(
                    question: "Redeliver \(count) dead \(group) \(noun) to \(endpointName(filter.endpointId ?? "")) since \(time)?",
                    operation: .replay(filter)))
        }
        return []
    }

    /// The replay naming exactly what a Deliveries filter shows, or nil when a replay cannot name it (free text, a
    /// message or a delivery, several statuses, a status that is not finished, an endpoint name not resolved).
    static func replayFilter(_ query: FilterQuery) -> DeliveryFilter? {
        guard query.statuses.count == 1, let status = query.statuses.first, DeliveryFilter.replayable.contains(status),
            query.text.isEmpty, query.messageId == nil, query.deliveryId == nil,
            query.endpointName == nil || query.endpointId != nil
        else { return nil }
        var filter = DeliveryFilter(status: status, endpointId: query.endpointId, eventType: query.eventType)
        filter.publishedSince = query.since
        filter.publishedUntil = query.until
        return filter
    }

    /// `http 503` or `timeout`: a failure group as the Failures view names it.
    static func groupName(_ filter: DeliveryFilter) -> String {
        if filter.errorClass == .httpStatus, let code = filter.statusCode { return "http \(code)" }
        return filter.errorClass?.rawValue ?? "unclassified"
    }

    /// The count for `R` arrived: ask, naming it.
    mutating func counted(endpointId: String, since: Date, _ result: Result<Int, OperationError>) -> [Effect] {
        guard modal == .counting(endpointId: endpointId) else { return [] }
        let time = Formatting.shortClock(since, timeZone: options.timeZone)
        switch result {
        case .failure(let error):
            modal = nil
            say("could not count deliveries to recover: \(error.message)", .error)
        case .success(0):
            modal = nil
            say("nothing to recover: no dead deliveries to \(endpointName(endpointId)) since \(time)")
        case .success(let count):
            let noun = count == 1 ? "delivery" : "deliveries"
            modal = .confirm(
                Confirmation(
                    question: "Redeliver \(count) \(noun) to \(endpointName(endpointId)) (\(endpointId)) since \(time)?",
                    operation: .recover(endpointId: endpointId, since: since)
                )
            )
        }
        return []
    }

    /// An operation's result arrived.
    mutating func finished(_ operation: OperatorAction, _ result: Result<OperationOutcome, OperationError>) {
        switch result {
        case .failure(let error):
            say("\(describe(operation)) failed: \(Sanitizer.line(error.message))", .error)
        case .success(.redelivery(.queued(let id))):
            if case .redeliver(_, let previous) = operation {
                watch = RedeliveryWatch(deliveryId: id, previousAttempts: previous, startedAt: now)
            }
            say("#\(id) queued for redelivery; waiting for the attempt…", .info, for: 31)
        case .success(.redelivery(.performed(let attempt))):
            say(
                "no dispatcher alive: sent from this dashboard → \(Self.describe(attempt))",
                attempt.succeeded ? .success : .error, for: 8
            )
        case .success(.recovered(let count)):
            let noun = count == 1 ? "delivery" : "deliveries"
            if case .recover(let endpointId, _) = operation {
                say("queued \(count) \(noun) to \(endpointName(endpointId)) for redelivery", .success)
                if count > 0 {
                    recoveryWatch = RecoveryWatch(endpointId: endpointId, startedAt: now, lastChange: now, lastSent: 0)
                }
            }
        case .success(.replayed(let count)):
            say("\(describe(operation)): queued \(count) for redelivery, sent at the endpoint's pace", .success)
        case .success(.pinged(let status, let milliseconds, let error)):
            let answer = status.map { "HTTP \($0)" } ?? error ?? "no answer"
            let ok = status.map { (200..<300).contains($0) } ?? false
            say("\(describe(operation)): \(Sanitizer.line(answer)) in \(milliseconds) ms", ok ? .success : .error, for: 10)
        case .success(.done):
            let text: String
            switch operation {
            case .pause(let id): text = "paused \(endpointName(id)): deliveries are held"
            case .resume(let id): text = "resumed \(endpointName(id))"
            case .togglePause(let id): text = "toggled pause of \(endpointName(id))"
            case .disable(let id): text = "disabled \(endpointName(id))"
            case .enable(let id): text = "enabled \(endpointName(id))"
            case .cancel(let id): text = "cancelled the retry of #\(id)"
            case .setRateLimit(let id, let limit?):
                text = "rate limit of \(endpointName(id)): \(limit) request\(limit == 1 ? "" : "s") per second"
            case .setRateLimit(let id, nil): text = "\(endpointName(id)) has no rate limit now"
            case .redeliver, .recover, .testPing, .replay: text = "\(describe(operation)) done"
            }
            say(text, .success)
        }
    }
}
