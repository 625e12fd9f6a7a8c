import DeliveryCore
import Foundation

extension DashboardState {
    /// The update function: applies one action and returns the effects the app loop must carry out.
    public mutating func update(_ action: Action) -> [Effect] {
        switch action {
        case .key(let key):
            return handle(key: key)
        case .command(let command):
            return handle(command)
        case .dataLoaded(let snapshot):
            apply(snapshot)
            return []
        case .operationFinished(let operation, let result):
            finished(operation, result)
            return []
        case .recoverableCounted(let endpointId, let since, let result):
            return counted(endpointId: endpointId, since: since, result)
        case .replayCounted(let filter, let result):
            return counted(filter, result)
        case .clock(let date):
            now = date
            if let message, message.expiresAt <= now { self.message = nil }
            if let watch, now.timeIntervalSince(watch.startedAt) > 30 {
                self.watch = nil
                say("#\(watch.deliveryId): no new attempt after 30 s (is a dispatcher running?)", .error)
            }
            return []
        case .resize(let width, let height):
            self.width = width
            self.height = height
            keepSelectionVisible()
            return []
        }
    }

    /// Keys go to the modal first, then to the detail overlay, then to the list.
    mutating func handle(key: Key) -> [Effect] {
        if key == .resize { return [] }
        if key == .ctrl("c") {
            quitting = true
            return [.quit]
        }
        if case .mouseClick(_, let y) = key { return click(y: y) }
        if let modal { return handle(key: key, in: modal) }
        if key == .wheelUp || key == .wheelDown {
            let command: Command = key == .wheelUp ? .moveUp : .moveDown
            return (0..<3).flatMap { _ in handle(command) }
        }
        guard let command = KeyBindings.command(for: key) else {
            switch key {
            case .char(let c): say("unknown key \(Sanitizer.line(String(c))) \u{2014} ? for help")
            case .ctrl(let c): say("unknown key ^\(Sanitizer.line(String(c)).uppercased()) \u{2014} ? for help")
            default: say("unknown key \u{2014} ? for help")
            }
            return []
        }
        return handle(command)
    }

    /// The commands of the list views and the detail overlay.
    mutating func handle(_ command: Command) -> [Effect] {
        if detail != nil, let effects = handleInDetail(command) { return effects }
        switch command {
        case .switchView(let target):
            backStack = []
            switchView(to: target)
        case .nextView:
            backStack = []
            switchView(to: view.next)
        case .previousView:
            backStack = []
            switchView(to: view.previous)
        case .moveUp: move(by: -1)
        case .moveDown: move(by: 1)
        case .pageUp: move(by: -bodyRows)
        case .pageDown: move(by: bodyRows)
        case .top: moveToTop()
        case .bottom: move(by: Int.max / 2)
        case .open: open()
        case .back: back()
        case .expand: setExpanded(true)
        case .collapse: setExpanded(false)
        case .toggleFollow, .follow:
            guard isLiveLog else {
                say("only the Deliveries view (2) follows new rows")
                return []
            }
            if command == .toggleFollow && list.following {
                stopFollowing()
                say("paused: rows stay where they are (Space or f follows again)")
            } else {
                follow()
                say("following the newest deliveries")
            }
        case .filter: modal = .filter(LineEditor(filter.description))
        case .cycleSort:
            let sorts = view.sorts
            guard !sorts.isEmpty else {
                say("\(view.title) has one order: \(view == .retryQueue ? "soonest first" : "newest first")")
                return []
            }
            sortIndex[view] = ((sortIndex[view] ?? 0) + 1) % sorts.count
            if view == .deliveries {
                // Another order is another page from the log: start at its top.
                list = ListState()
                loaded = false
                let window = Formatting.count(Int(DeliveryQuery.textSearchWindow))
                switch sort {
                case .slowest?, .mostAttempts?:
                    say("sorted by \(sort?.rawValue ?? ""): the top \(options.pageSize) of the newest \(window) deliveries (or of since:)")
                case .oldest?: say("sorted oldest first (s again for slowest; newest first follows new rows)")
                default: say("sorted newest first: following new rows")
                }
            } else {
                syncSelection()
                say("sorted by \(sort?.rawValue ?? "")")
            }
        case .help: modal = .help(scroll: 0)
        case .quit:
            quitting = true
            return [.quit]
        case .redraw: return [.redrawAll]
        case .pause, .disable, .redeliver, .recover, .cancelRetry, .testPing, .rateLimit:
            return request(command)
        case .previousAttempt, .nextAttempt: break
        case .nextMatch, .previousMatch:
            say("n and N find the filter's text in a delivery's detail (Enter opens one)")
        case .audit:
            let endpointId = view == .endpoints ? selectedRow?.endpointId : nil
            modal = .audit(endpointId: endpointId, scroll: 0)
        case .alerts:
            modal = .alerts(scroll: 0)
        case .dispatchers:
            modal = .dispatchers(scroll: 0)
        case .openInPager:
            say("o opens a delivery's request and response in $PAGER: Enter opens the delivery first")
        case .copyId:
            guard let id = selectedRow.map(Self.copyableId) else {
                say("select a row first", .error)
                return []
            }
            say("copied \(id) (OSC 52)")
            return [.copy(id)]
        }
        return []
    }

    /// Detail overlay keys; `nil` lets the list handle the command (switching views closes the detail).
    mutating func handleInDetail(_ command: Command) -> [Effect]? {
        guard var state = detail else { return nil }
        let attempts = detailData?.attempts.count ?? 0
        switch command {
        case .moveUp: state.scroll = max(0, state.scroll - 1)
        case .moveDown: state.scroll += 1
        case .pageUp: state.scroll = max(0, state.scroll - bodyRows)
        case .pageDown: state.scroll += bodyRows
        case .top: state.scroll = 0
        case .bottom: state.scroll = Int.max / 4
        case .back, .open:
            detail = nil
            detailData = nil
            return []
        case .previousAttempt, .collapse:
            guard attempts > 0 else { return [] }
            state.attemptIndex = max(0, (state.attemptIndex ?? attempts - 1) - 1)
        case .nextAttempt, .expand:
            guard attempts > 0 else { return [] }
            state.attemptIndex = min(attempts - 1, (state.attemptIndex ?? attempts - 1) + 1)
        case .switchView, .nextView, .previousView:
            detail = nil
            detailData = nil
            return nil
        case .toggleFollow, .follow, .filter, .cycleSort, .audit, .alerts, .dispatchers:
            return []
        case .nextMatch, .previousMatch:
            let needle = filter.text
            guard !needle.isEmpty else {
                say("nothing to find: / sets a text to look for", .error)
                return []
            }
            guard let data = detailData else { return [] }
            let lines = DetailView.lines(data, state: self, attemptIndex: state.attemptIndex).map { line in
                line.map(\.text).joined().lowercased()
            }
            let matches = lines.indices.filter { lines[$0].contains(needle) }
            let current = state.scroll
            let target =
                command == .nextMatch
                ? matches.first { $0 > current } ?? matches.first
                : matches.last { $0 < current } ?? matches.last
            guard let target else {
                say("\(needle) is not in this delivery's detail", .error)
                return []
            }
            state.scroll = target
            say("\(needle): match \((matches.firstIndex(of: target) ?? 0) + 1) of \(matches.count)")
        case .openInPager:
            guard let data = detailData else {
                say("the delivery is still loading", .error)
                return []
            }
            let index = state.attemptIndex ?? (data.attempts.isEmpty ? nil : data.attempts.count - 1)
            return [.page(DetailView.plainText(data, attempt: index, state: self))]
        case .copyId:
            say("copied \(Identifier.formatDeliveryID(state.deliveryId)) (OSC 52)")
            return [.copy(Identifier.formatDeliveryID(state.deliveryId))]
        default:
            return nil
        }
        detail = state
        return []
    }

    mutating func switchView(to target: ViewKind) {
        detail = nil
        detailData = nil
        guard target != view else { return }
        view = target
        loaded = false
    }

    mutating func open() {
        guard let row = selectedRow else { return }
        switch row {
        case .endpoint(let summary):
            backStack.append(NavigationEntry(view: .endpoints, filter: filter, list: list))
            let previous = NavigationEntry(
                view: .deliveries, filter: filters[.deliveries] ?? FilterQuery(),
                list: lists[.deliveries] ?? ListState()
            )
            backStack.append(previous)
            filters[.deliveries] = FilterQuery(endpointId: summary.endpoint.id)
            lists[.deliveries] = ListState()
            switchView(to: .deliveries)
        case .delivery(let d), .groupDelivery(_, let d):
            detail = DetailState(deliveryId: d.id)
            detailData = nil
        case .group(let group, _):
            setExpanded(expandedGroup != DashboardState.groupKey(group))
        case .message(let m):
            backStack.append(NavigationEntry(view: .events, filter: filter, list: list))
            backStack.append(
                NavigationEntry(
                    view: .deliveries, filter: filters[.deliveries] ?? FilterQuery(),
                    list: lists[.deliveries] ?? ListState()
                )
            )
            filters[.deliveries] = FilterQuery(messageId: m.message.id)
            lists[.deliveries] = ListState()
            switchView(to: .deliveries)
        }
    }

    mutating func back() {
        if detail != nil {
            detail = nil
            detailData = nil
            return
        }
        if backStack.count >= 2 {
            let restoreTarget = backStack.removeLast()
            let origin = backStack.removeLast()
            filters[restoreTarget.view] = restoreTarget.filter.isEmpty ? nil : restoreTarget.filter
            lists[restoreTarget.view] = restoreTarget.list
            switchView(to: origin.view)
            filters[origin.view] = origin.filter.isEmpty ? nil : origin.filter
            lists[origin.view] = origin.list
            return
        }
        if !filter.isEmpty {
            filters[view] = nil
            list = ListState()
            loaded = false
            say("filter cleared")
        }
    }

    mutating func setExpanded(_ expanded: Bool) {
        guard view == .failures, let row = selectedRow, let group = row.group else { return }
        let key = DashboardState.groupKey(group)
        if expanded {
            guard expandedGroup != key else { return }
            expandedGroup = key
            groupDeliveries = []
            groupDeliveriesQuery = nil
        } else {
            guard expandedGroup == key else { return }
            expandedGroup = nil
            var list = self.list
            list.selectedKey = ListRow.group(group, expanded: false).key
            self.list = list
            syncSelection()
        }
    }
}

extension ListRow {
    /// The failure group this row belongs to.
    public var group: FailureGroup? {
        switch self {
        case .group(let g, _), .groupDelivery(let g, _): g
        default: nil
        }
    }
}

extension DashboardState {
    /// The id `y` copies for a row: `dlv_42`, `ep_…`, `msg_…`; a failure group's endpoint.
    static func copyableId(_ row: ListRow) -> String {
        switch row {
        case .endpoint(let s): s.endpoint.id
        case .delivery(let d), .groupDelivery(_, let d): Identifier.formatDeliveryID(d.id)
        case .group(let g, _): g.endpointId
        case .message(let m): m.message.id
        }
    }
}
