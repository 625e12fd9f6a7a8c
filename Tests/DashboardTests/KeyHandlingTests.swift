import Dashboard
import DeliveryCore
import Foundation
import Testing

/// `(state, key) -> (state, effects)`: no terminal, fixture data, fixed clock.
@Suite struct KeyHandlingTests {
    @Test func numberKeysAndTabSwitchViews() async {
        var state = await Fixture.state()
        #expect(state.view == .endpoints)
        for kind in ViewKind.allCases {
            state.press(.char(Character("\(kind.rawValue)")))
            #expect(state.view == kind)
        }
        state.press(.char("1"))
        var seen: [ViewKind] = []
        for _ in 0..<5 {
            state.press(.tab)
            seen.append(state.view)
        }
        #expect(seen == [.deliveries, .failures, .retryQueue, .events, .endpoints])
        state.press(.backTab)
        #expect(state.view == .events)
    }

    @Test func selectionMovesAndClamps() async {
        var state = await Fixture.state(view: .deliveries)
        #expect(state.list.selectedIndex == 0)
        state.press(.char("j"), .down, .down)
        #expect(state.list.selectedIndex == 3)
        state.press(.char("k"))
        #expect(state.list.selectedIndex == 2)
        state.press(.char("G"))
        #expect(state.list.selectedIndex == state.rows.count - 1)
        state.press(.char("g"))
        #expect(state.list.selectedIndex == 0)
        state.press(.up)
        #expect(state.list.selectedIndex == 0)
        state.press(.pageDown)
        #expect(state.list.selectedIndex == min(state.rows.count - 1, state.bodyRows))
    }

    @Test func selectionStaysOnTheSameRowAsNewRowsArrive() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries)
        state.press(.down, .down)
        let key = state.selectedKey
        log.appendDelivery()
        log.appendDelivery()
        await state.reload(from: log)
        // Not following: the page stays anchored, the row keeps its place, the arrivals are counted.
        #expect(state.selectedKey == key)
        #expect(state.list.selectedIndex == 2)
        #expect(state.newRows == 2)
    }

    /// Attempts are counted against the schedule the dispatcher says it runs, manual redeliveries apart; with no
    /// dispatcher having said, without a limit rather than against a guess.
    @Test func attemptsAreShownAgainstTheDispatchersOwnSchedule() async {
        var state = await Fixture.state(view: .deliveries)
        var delivery = try! #require(state.rows.first?.delivery)
        delivery.attemptCount = 3
        delivery.manualCount = 1
        state.overview?.workers = [
            WorkerInfo(id: "w", pid: 1, host: "h", startedAt: state.now, heartbeatAt: state.now, version: "0", inFlight: 0,
                       retryDelays: [1, 2, 3])
        ]
        #expect(state.maxAttempts == 4)
        #expect(state.attemptText(delivery) == "2/4+1")
        #expect(state.attemptText(delivery, next: true, long: true) == "3/4 +1 manual")
        state.overview?.workers = [
            WorkerInfo(id: "w", pid: 1, host: "h", startedAt: state.now, heartbeatAt: state.now, version: "0", inFlight: 0)
        ]
        #expect(state.maxAttempts == nil)
        #expect(state.attemptText(delivery) == "2+1")
    }

    /// Who paused an endpoint, when and from where: on its row, and in the audit overlay (`A`).
    @Test func theAuditSaysWhoPausedAnEndpoint() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .endpoints, width: 180, height: 30)
        let text = DashboardRenderer.render(state).text()
        #expect(text.contains("paused by alice 1h00m ago from ssh 10.0.0.5"), "\(text)")
        let legacy = try! #require(state.rows.firstIndex { $0.endpointId == "ep_legacy" })
        for _ in 0..<legacy { state.press(.char("j")) }
        state.press(.char("A"))
        await state.reload(from: log)
        let overlay = DashboardRenderer.render(state).text()
        #expect(overlay.contains("Audit: Paused for maintenance"), "\(overlay)")
        #expect(overlay.contains("endpoint.pause"))
        #expect(overlay.contains("by alice (ssh 10.0.0.5 port 52311, /dev/pts/3) via dashboard"))
        #expect(overlay.contains("T13:02:09Z") || overlay.contains("T13:02:09+00:00"), "ISO 8601 times: \(overlay)")
        #expect(!overlay.contains("endpoint.disable"), "only the selected endpoint's actions")
        state.press(.escape)
        #expect(state.modal == nil)
    }

    /// After `R`, the footer follows the recovery live, then says how it ended.
    @Test func aRecoveryReportsItsProgressThenItsOutcome() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .endpoints)
        _ = state.update(
            .operationFinished(.recover(endpointId: "ep_down", since: FixtureLog.now.addingTimeInterval(-3600)), .success(.recovered(347))))
        #expect(state.recoveryWatch?.endpointId == "ep_down")
        log.recovery = RecoveryProgress(
            endpointId: "ep_down", startedAt: FixtureLog.now, total: 347, waiting: 227, delivered: 0, failed: 120,
            other: 0, topError: "connect_refused")
        await state.reload(from: log)
        #expect(
            state.message?.text == "recover down.example.net/hook: 120/347 sent \u{00B7} 0 ok \u{00B7} 120 failed (connect_refused)",
            "\(state.message?.text ?? "")")
        log.recovery?.waiting = 0
        log.recovery?.delivered = 200
        log.recovery?.failed = 147
        await state.reload(from: log)
        #expect(state.recoveryWatch == nil)
        #expect(state.message?.text.hasPrefix("recover down.example.net/hook done: 347 sent") == true)
        #expect(state.message?.kind == .error)
    }

    /// `s` in the Deliveries view: newest (following), oldest, slowest, most attempts, from the log, with the sorted
    /// column marked.
    @Test func deliveriesSortFromTheLogWithAMarkedColumn() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries, width: 120, height: 40)
        #expect(DashboardRenderer.render(state).text().contains("TIME\u{25BC}"))
        let all = try! log.deliveries(DeliveryQuery(limit: 1000))
        // A load of the newest-first page still on its way when `s` is pressed arrives after it.
        let stale = await DataSnapshot.load(state.dataRequest, from: log, now: state.now)
        state.press(.char("s"))
        _ = state.update(.dataLoaded(stale))
        await state.reload(from: log)
        #expect(state.sort == .oldest)
        #expect(state.dataRequest.deliveries?.order == .oldest)
        #expect(state.rows.first?.delivery?.id == all.map(\.id).min())
        #expect(DashboardRenderer.render(state).text().contains("TIME\u{25B2}"))
        #expect(!state.isFollowingLiveLog)
        #expect(!DashboardRenderer.render(state).text().contains("following"), "an oldest-first list does not follow")
        #expect(!state.list.lost, "changing the sort loses no selection: \(state.message?.text ?? "")")
        #expect(state.selectedRow?.delivery?.id == all.map(\.id).min())
        state.press(.char("s"))
        await state.reload(from: log)
        #expect(state.sort == .slowest)
        let slowest = all.compactMap(\.lastLatencyMilliseconds).max()
        #expect(state.rows.first?.delivery?.lastLatencyMilliseconds == slowest)
        #expect(DashboardRenderer.render(state).text().contains("LAT\u{25BC}"))
        state.press(.char("s"))
        await state.reload(from: log)
        #expect(state.sort == .mostAttempts)
        #expect(state.rows.first?.delivery?.attemptCount == all.map(\.attemptCount).max())
        state.press(.char("s"))
        await state.reload(from: log)
        #expect(state.sort == .newest)
        #expect(state.list.following)
        #expect(state.rows.first?.delivery?.id == all.first?.id)
    }

    /// `n`/`N` in a delivery's detail jump between the lines holding the filter's text, wrapping around.
    @Test func nAndNJumpBetweenMatchesInTheDetail() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries, width: 120, height: 20)
        state.press(.char("/"))
        state.type("invoice")
        state.press(.enter)
        await state.reload(from: log)
        state.press(.enter)
        await state.reload(from: log)
        #expect(state.detailData != nil)
        var seen: [Int] = []
        for _ in 0..<4 {
            state.press(.char("n"))
            seen.append(state.detail?.scroll ?? -1)
        }
        #expect(seen[0] > 0)
        #expect(seen[1] > seen[0])
        #expect(state.message?.text.hasPrefix("invoice: match") == true)
        let before = state.detail?.scroll
        state.press(.char("N"))
        #expect((state.detail?.scroll ?? 0) < (before ?? 0) || seen.contains(state.detail?.scroll ?? -1))
        let lines = DashboardRenderer.render(state).text()
        #expect(lines.lowercased().contains("invoice"))
    }

    @Test func anUnknownKeySaysSo() async {
        var state = await Fixture.state(view: .deliveries)
        let before = state.list
        #expect(state.press(.char("z")) == [])
        #expect(state.message?.text == "unknown key z \u{2014} ? for help")
        #expect(state.list == before)
    }

    /// The footer offers what `p` and `d` will do to the endpoint under the cursor.
    @Test func theFooterSaysResumeOnAPausedEndpoint() async {
        var state = await Fixture.state(view: .endpoints, width: 120, height: 30)
        let paused = try! #require(state.rows.firstIndex { $0.endpointId == "ep_legacy" })
        for _ in 0..<paused { state.press(.char("j")) }
        let footer = DashboardRenderer.render(state).text().split(separator: "\n").suffix(2).joined()
        #expect(footer.contains("p resume"), "\(footer)")
        state.press(.char("g"))
        #expect(DashboardRenderer.render(state).text().contains("p pause"))
    }

    // MARK: Follow mode

    /// Following, the newest delivery is selected after every refresh, however many arrive.
    @Test func followingKeepsTheNewestSelected() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries)
        #expect(state.list.following)
        for round in 0..<30 {
            var newest: Int64 = 0
            for _ in 0...(round % 4) { newest = log.appendDelivery() }
            await state.reload(from: log)
            #expect(state.selectedRow?.delivery?.id == newest, "round \(round)")
            #expect(state.list.top == 0)
        }
        #expect(DashboardRenderer.render(state).text().contains("following"))
    }

    /// After `j`, a stream of refreshes with new rows on top never changes the selected delivery, nor its place on
    /// screen; `+N new` counts the arrivals; `f` follows again.
    @Test func movingAwayStopsFollowingAndTheSelectionNeverDrifts() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries, pageSize: 50)
        state.press(.char("j"), .char("j"), .char("j"))
        let selected = state.selectedRow?.delivery?.id
        let screenRow = state.list.selectedIndex - state.list.top
        #expect(!state.list.following)
        var arrived = 0
        for _ in 0..<120 {
            log.appendDelivery()
            arrived += 1
            await state.reload(from: log)
            #expect(state.selectedRow?.delivery?.id == selected)
            #expect(state.list.selectedIndex - state.list.top == screenRow)
        }
        #expect(state.newRows == min(arrived, DashboardState.newRowsLimit))
        let text = DashboardRenderer.render(state).text()
        #expect(text.contains("PAUSED +99+ new"), "\(text)")
        state.press(.char("f"))
        await state.reload(from: log)
        #expect(state.list.following)
        #expect(state.newRows == 0)
        #expect(state.selectedRow?.delivery?.id == log.newestDeliveryId)
    }

    /// `k` on the top row of a paused log, `g` and Space all return to following.
    @Test func upFromTheTopGAndSpaceFollowAgain() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries)
        for keys: [Key] in [[.char("j"), .char("k"), .char("k")], [.char("j"), .char("g")], [.char(" "), .char(" ")]] {
            for key in keys.dropLast() { state.press(key) }
            log.appendDelivery()
            await state.reload(from: log)
            #expect(!state.list.following)
            state.press(keys.last!)
            await state.reload(from: log)
            #expect(state.list.following, "\(keys)")
            #expect(state.selectedRow?.delivery?.id == log.newestDeliveryId)
        }
    }

    /// An action after many refreshes acts on the delivery that was selected when the key was pressed.
    @Test func anActionTargetsTheRowUnderTheCursorAfterManyRefreshes() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries)
        state.press(.char("j"), .char("j"))
        let selected = try! #require(state.selectedRow?.delivery)
        for _ in 0..<25 {
            log.appendDelivery()
            await state.reload(from: log)
        }
        let effects = state.press(.char("r"))
        #expect(effects == [.perform(.redeliver(deliveryId: selected.id, previousAttempts: selected.attemptCount))])
    }

    /// A selected row that leaves the list is reported and nothing else is highlighted or acted on.
    @Test func aRowThatLeavesTheListIsNotReplacedByAnother() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .retryQueue)
        state.press(.char("j"))
        let selected = try! #require(state.selectedRow?.delivery)
        log.setDeliveryStatus(selected.id, .delivered)
        await state.reload(from: log)
        #expect(state.list.lost)
        #expect(state.selectedRow == nil)
        #expect(state.message?.text.contains("#\(selected.id) left this list") == true)
        #expect(state.press(.char("x")) == [])
        #expect(state.message?.kind == .error)
        // The next move selects again, near where the row was.
        state.press(.char("j"))
        #expect(state.selectedRow != nil)
        #expect(!state.list.lost)
    }

    /// Ids pasted as they are: recognised, case kept, looked up in the log rather than in the loaded rows.
    @Test func pastedIdsAreRecognisedWithTheirCase() {
        let message = FilterQuery.parse("msg_AbC123xyz")
        #expect(message.messageId == "msg_AbC123xyz")
        #expect(message.text.isEmpty)
        #expect(FilterQuery.parse("ep_Q7kLm").endpointId == "ep_Q7kLm")
        #expect(FilterQuery.parse("dlv_42").deliveryId == 42)
        #expect(FilterQuery.parse("#42").deliveryId == 42)
        #expect(FilterQuery.parse("ep:Globex").endpointName == "Globex")
        #expect(FilterQuery.parse("ep:Globex").endpointId == nil)
        #expect(FilterQuery.parse("msg_AbC status:dead").description == "status:dead msg:msg_AbC")
        let now = FixtureLog.now
        #expect(FilterQuery.parse("since:1h", now: now).since == now.addingTimeInterval(-3600))
        #expect(FilterQuery.parse("until:2026-12-01T10:00", now: now).until == Date(timeIntervalSince1970: 1_796_119_200))
        #expect(FilterQuery.parse("since:yesterday-ish").unknown == ["since:yesterday-ish"])
    }

    /// A delivery far older than the loaded page is found by its id; `ep:` takes a name or URL fragment.
    @Test func aDeliveryOlderThanThePageIsFoundByItsId() async {
        let log = FixtureLog()
        for _ in 0..<60 { log.appendDelivery() }
        var state = await Fixture.state(log, view: .deliveries, pageSize: 20)
        let oldest = try! #require(try log.deliveries(DeliveryQuery(limit: 1000)).last)
        #expect(!state.rows.contains { $0.delivery?.id == oldest.id })
        state.press(.char("/"))
        state.type("#\(oldest.id)")
        state.press(.enter)
        await state.reload(from: log)
        #expect(state.rows.map { $0.delivery?.id } == [oldest.id])

        state.press(.char("/"), .ctrl("u"))
        state.type(oldest.messageId)
        state.press(.enter)
        await state.reload(from: log)
        #expect(state.rows.allSatisfy { $0.delivery?.messageId == oldest.messageId })
        #expect(!state.rows.isEmpty)

        state.press(.char("/"), .ctrl("u"))
        state.type("ep:crm.example")
        state.press(.enter)
        await state.reload(from: log)
        #expect(!state.rows.isEmpty)
        #expect(state.rows.allSatisfy { $0.delivery?.endpointId == "ep_crm" })
        state.press(.char("/"), .ctrl("u"))
        state.type("ep:nothing-like-this")
        state.press(.enter)
        #expect(state.message?.kind == .error)
    }

    @Test func filterTokensMapToQueryFields() {
        let query = FilterQuery.parse("status:dead,retrying type:invoice.* ep:ep_123 msg:msg_abc Refused")
        #expect(query.statuses == [.dead, .retrying])
        #expect(query.eventType == "invoice.*")
        #expect(query.endpointId == "ep_123")
        #expect(query.messageId == "msg_abc")
        #expect(query.text == "refused")
        #expect(FilterQuery.parse("status:bogus").unknown == ["status:bogus"])
        #expect(FilterQuery.parse("  ").isEmpty)
    }

    @Test func filterEditorAppliesOnEnterAndEscClears() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries)
        state.press(.char("/"))
        state.type("status:dead")
        state.press(.enter)
        #expect(state.filter.statuses == [.dead])
        #expect(state.dataRequest.deliveries?.statuses == [.dead])
        await state.reload(from: log)
        #expect(state.rows.allSatisfy { $0.delivery?.status == .dead })
        #expect(!state.rows.isEmpty)
        // Wildcards and free text filter client-side.
        state.press(.char("/"), .ctrl("u"))
        state.type("type:invoice.* down")
        state.press(.enter)
        await state.reload(from: log)
        #expect(state.dataRequest.deliveries?.eventType == nil)
        #expect(
            state.rows.allSatisfy {
                $0.delivery!.eventType.hasPrefix("invoice.") && $0.delivery!.endpointId == "ep_down"
            })
        state.press(.escape)
        #expect(state.filter.isEmpty)
    }

    @Test func enterOnEndpointOpensItsDeliveriesAndEscGoesBack() async {
        let log = FixtureLog()
        var state = await Fixture.state(log)
        state.press(.down)
        let endpointId = state.selectedRow?.endpointId
        state.press(.enter)
        #expect(state.view == .deliveries)
        #expect(state.filter.endpointId == endpointId)
        await state.reload(from: log)
        #expect(state.rows.allSatisfy { $0.delivery?.endpointId == endpointId })
        state.press(.enter)
        #expect(state.detail != nil)
        state.press(.escape)
        #expect(state.detail == nil)
        state.press(.escape)
        #expect(state.view == .endpoints)
        #expect(state.selectedRow?.endpointId == endpointId)
        #expect(state.filters[.deliveries] == nil)
    }

    @Test func pauseTogglesTheSelectedEndpoint() async {
        var state = await Fixture.state()
        #expect(state.selectedRow?.endpointId == "ep_billing")
        #expect(state.press(.char("p")) == [.perform(.pause(endpointId: "ep_billing"))])
        while state.selectedRow?.endpointId != "ep_legacy" { state.press(.down) }
        #expect(state.press(.char("p")) == [.perform(.resume(endpointId: "ep_legacy"))])
        // On a delivery, the delivery's endpoint.
        state.press(.char("2"))
        await state.reload(from: FixtureLog())
        #expect(state.selectedRow?.endpointId == "ep_legacy")
        #expect(state.press(.char("p")) == [.perform(.resume(endpointId: "ep_legacy"))])
        state.press(.down)
        #expect(state.selectedRow?.endpointId == "ep_gone")
        #expect(state.press(.char("p")).isEmpty)  // disabled: refused with a hint
        #expect(state.message?.kind == .error)
    }

    /// `t` pings the selected endpoint (or a delivery's); the answer shows in the footer.
    @Test func testPingReportsTheAnswerInTheFooter() async {
        var state = await Fixture.state()
        #expect(state.press(.char("t")) == [.perform(.testPing(endpointId: "ep_billing"))])
        _ = state.update(
            .operationFinished(.testPing(endpointId: "ep_billing"), .success(.pinged(status: 204, milliseconds: 12, error: nil))))
        #expect(state.message?.text == "ping Billing: HTTP 204 in 12 ms")
        #expect(state.message?.kind == .success)
        _ = state.update(
            .operationFinished(
                .testPing(endpointId: "ep_billing"),
                .success(.pinged(status: nil, milliseconds: 40, error: "tls: certificate signed by an unknown authority"))))
        #expect(state.message?.text == "ping Billing: tls: certificate signed by an unknown authority in 40 ms")
        #expect(state.message?.kind == .error)
    }

    @Test func disableAsksAndYAccepts() async {
        var state = await Fixture.state()
        #expect(state.press(.char("d")).isEmpty)
        guard case .confirm(let confirmation)? = state.modal else {
            Issue.record("no confirmation")
            return
        }
        #expect(confirmation.question.contains("Disable Billing (ep_billing)"))
        #expect(state.press(.char("y")) == [.perform(.disable(endpointId: "ep_billing"))])
        #expect(state.modal == nil)
        // n and Esc cancel without effects; Enter accepts.
        state.press(.char("d"))
        #expect(state.press(.char("n")).isEmpty)
        #expect(state.modal == nil)
        state.press(.char("d"))
        #expect(state.press(.escape).isEmpty)
        #expect(state.modal == nil)
        state.press(.char("d"))
        #expect(state.press(.enter) == [.perform(.disable(endpointId: "ep_billing"))])
        // A disabled endpoint is enabled.
        while state.selectedRow?.endpointId != "ep_gone" { state.press(.down) }
        state.press(.char("d"))
        #expect(state.press(.char("y")) == [.perform(.enable(endpointId: "ep_gone"))])
    }

    @Test func recoverPromptsForDurationThenConfirmsWithTheCount() async {
        var state = await Fixture.state()
        while state.selectedRow?.endpointId != "ep_down" { state.press(.down) }
        state.press(.char("R"))
        guard case .recoverSince(_, let editor)? = state.modal else {
            Issue.record("no prompt")
            return
        }
        #expect(editor.text == "1h")
        state.press(.backspace, .backspace)
        state.type("30m")
        let since = FixtureLog.now.addingTimeInterval(-1800)
        #expect(state.press(.enter) == [.countRecoverable(endpointId: "ep_down", since: since)])
        #expect(state.modal == .counting(endpointId: "ep_down"))
        _ = state.update(.recoverableCounted(endpointId: "ep_down", since: since, .success(312)))
        guard case .confirm(let confirmation)? = state.modal else {
            Issue.record("no confirmation")
            return
        }
        #expect(confirmation.question == "Redeliver 312 deliveries to down.example.net/hook (ep_down) since 13:32?")
        #expect(DashboardRenderer.render(state).text().contains("Redeliver 312 deliveries"))
        #expect(state.press(.char("y")) == [.perform(.recover(endpointId: "ep_down", since: since))])
        // Esc cancels; a bad duration keeps the prompt open.
        state.press(.char("R"))
        state.press(.ctrl("u"))
        state.type("soon")
        #expect(state.press(.enter).isEmpty)
        #expect(state.message?.text.contains("not a duration") == true)
        state.press(.escape)
        #expect(state.modal == nil)
        // 2h and 1d parse.
        #expect(Formatting.parseDuration("2h") == 7200)
        #expect(Formatting.parseDuration("1d") == 86_400)
    }

    @Test func cancelRetryConfirms() async {
        var state = await Fixture.state(view: .retryQueue)
        let id = state.selectedRow?.delivery?.id ?? 0
        state.press(.char("x"))
        guard case .confirm(let confirmation)? = state.modal else {
            Issue.record("no confirmation")
            return
        }
        #expect(confirmation.question.contains("#\(id)"))
        #expect(state.press(.char("n")).isEmpty)
        state.press(.char("x"))
        #expect(state.press(.char("y")) == [.perform(.cancel(deliveryId: id))])
        // Not for a delivered one.
        state.press(.char("2"))
        await state.reload(from: FixtureLog())
        while state.selectedRow?.delivery?.status != .delivered { state.press(.down) }
        #expect(state.press(.char("x")).isEmpty)
        #expect(state.modal == nil)
    }

    @Test func redeliverReportsQueuedThenTheNewAttempt() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries)
        while state.selectedRow?.delivery?.id != 1002 { state.press(.down) }
        let effects = state.press(.char("r"))
        #expect(effects == [.perform(.redeliver(deliveryId: 1002, previousAttempts: 8))])
        _ = state.update(
            .operationFinished(
                .redeliver(deliveryId: 1002, previousAttempts: 8), .success(.redelivery(.queued(deliveryId: 1002)))))
        #expect(state.dataRequest.watchId == 1002)
        log.addAttempt(deliveryId: 1002, status: 200, milliseconds: 35)
        await state.reload(from: log)
        #expect(state.watch == nil)
        #expect(state.message?.text == "#1002 redelivered → 200 in 35ms")
        // Performed here when no dispatcher is alive.
        let attempt = Attempt(
            id: 1, deliveryId: 1002, number: 10, trigger: .manual, startedAt: FixtureLog.now, durationMilliseconds: 35,
            requestHeaders: [], responseStatus: 200, responseHeaders: [], responseBodyExcerpt: nil, errorClass: nil,
            errorMessage: nil)
        _ = state.update(
            .operationFinished(
                .redeliver(deliveryId: 1002, previousAttempts: 9), .success(.redelivery(.performed(attempt)))))
        #expect(state.message?.text == "no dispatcher alive: sent from this dashboard → 200 in 35ms")
    }

    @Test(arguments: ["p", "d", "r", "R", "x"])
    func readOnlyRefusesEveryAction(key: Character) async {
        for view in ViewKind.allCases {
            var state = await Fixture.state(view: view, readOnly: true)
            #expect(state.press(.char(key)).isEmpty)
            #expect(state.modal == nil)
            #expect(state.message?.text.hasPrefix("read-only") == true)
        }
    }

    @Test func quitKeys() async {
        var state = await Fixture.state()
        #expect(state.press(.char("q")) == [.quit])
        var other = await Fixture.state()
        #expect(other.press(.ctrl("c")) == [.quit])
        var inModal = await Fixture.state()
        inModal.press(.char("/"))
        #expect(inModal.press(.ctrl("c")) == [.quit])
        var redraw = await Fixture.state()
        #expect(redraw.press(.ctrl("l")) == [.redrawAll])
    }

    @Test func sortCyclesOnEndpoints() async {
        var state = await Fixture.state()
        #expect(state.sort == .name)
        state.press(.char("s"))
        #expect(state.sort == .queue)
        #expect(state.selectedRow?.endpointId == "ep_billing")  // the selection follows its row
        #expect(state.rows.first?.endpointId == "ep_legacy")
        state.press(.char("s"), .char("s"), .char("s"))
        #expect(state.sort == .name)
    }

    @Test func keysetPagingNeverUsesOffsets() async {
        let log = FixtureLog(extraDeliveries: 100)
        var state = await Fixture.state(log, view: .deliveries, pageSize: 50)
        #expect(state.rows.count == 50)
        state.press(.char("G"))
        let last = state.selectedRow?.delivery?.id
        state.press(.down)
        let before = state.dataRequest.deliveries?.before
        #expect(before != nil)
        await state.reload(from: log)
        #expect(state.selectedRow?.delivery?.id == last)
        state.press(.down)
        #expect(state.selectedRow?.delivery?.id == (last ?? 0) - 1)
        // Back to the head.
        state.press(.char("g"))
        #expect(state.dataRequest.deliveries?.before == nil)
    }

    @Test func helpOverlayOpensAndCloses() async {
        var state = await Fixture.state()
        state.press(.char("?"))
        #expect(state.modal == .help(scroll: 0))
        state.press(.char("j"))  // scrolls, does not move the list
        #expect(state.list.selectedIndex == 0)
        state.press(.escape)
        #expect(state.modal == nil)
    }

    @Test func messagesExpire() async {
        var state = await Fixture.state()
        state.press(.char("s"))
        #expect(state.message != nil)
        _ = state.update(.clock(FixtureLog.now.addingTimeInterval(5)))
        #expect(state.message == nil)
    }

    /// `R` on the Deliveries view with a filter offers the filtered set; a filter a replay cannot name is refused.
    @Test func replayOfTheFilteredDeliveries() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .deliveries)
        state.press(.char("/"))
        state.type("status:dead type:invoice.*")
        state.press(.enter)
        let filter = DeliveryFilter(status: .dead, eventType: "invoice.*")
        #expect(state.press(.char("R")) == [.countReplay(filter)])
        #expect(DashboardRenderer.render(state).text().contains("Counting deliveries to replay"))
        _ = state.update(.replayCounted(filter, .success(7)))
        guard case .confirm(let confirmation)? = state.modal else {
            Issue.record("no confirmation")
            return
        }
        #expect(confirmation.question == "Redeliver the 7 dead deliveries this filter shows?")
        #expect(state.press(.char("y")) == [.perform(.replay(filter))])
        // Free text cannot be replayed by filter: said so, nothing asked.
        state.press(.char("/"))
        state.press(.ctrl("u"))
        state.type("status:dead acme")
        state.press(.enter)
        #expect(state.press(.char("R")).isEmpty)
        #expect(state.modal == nil)
        #expect(state.message?.text.hasPrefix("R replays a filter of one status") == true, "\(state.message?.text ?? "")")
    }

    /// `L` sets the selected endpoint's rate limit from a prompt (`none` removes it); bad numbers keep the prompt open.
    @Test func rateLimitPromptSetsAndClears() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .endpoints)
        #expect(state.press(.char("L")).isEmpty)
        guard case .rateLimit(let endpointId, let editor)? = state.modal else {
            Issue.record("no prompt")
            return
        }
        #expect(endpointId == "ep_billing" && editor.text == "none")
        #expect(DashboardRenderer.render(state).text().contains("Rate limit of Billing"))
        state.press(.ctrl("u"))
        state.type("99999")
        #expect(state.press(.enter).isEmpty)
        #expect(state.message?.kind == .error)
        state.press(.ctrl("u"))
        state.type("20")
        #expect(state.press(.enter) == [.perform(.setRateLimit(endpointId: "ep_billing", limit: 20))])
        _ = state.update(.operationFinished(.setRateLimit(endpointId: "ep_billing", limit: 20), .success(.done)))
        #expect(state.message?.text == "rate limit of Billing: 20 requests per second")
        state.press(.char("L"))
        state.press(.ctrl("u"))
        state.type("none")
        #expect(state.press(.enter) == [.perform(.setRateLimit(endpointId: "ep_billing", limit: nil))])
    }

    /// `R` on a failure group replays that group's dead deliveries since a time typed, with the count confirmed.
    @Test func replayOfAFailureGroupAsksSinceWhenThenConfirmsTheCount() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .failures)
        guard case .group(let group, _)? = state.selectedRow else {
            Issue.record("no group selected")
            return
        }
        state.press(.char("R"))
        guard case .replaySince(let filter, let editor)? = state.modal else {
            Issue.record("no prompt: \(String(describing: state.modal))")
            return
        }
        #expect(filter == DeliveryFilter(status: .dead, endpointId: group.endpointId, errorClass: group.errorClass))
        #expect(editor.text == "1h")
        #expect(DashboardRenderer.render(state).text().contains("Redeliver this group's dead deliveries"))
        state.press(.backspace, .backspace)
        state.type("2h")
        var expected = filter
        expected.since = FixtureLog.now.addingTimeInterval(-7200)
        #expect(state.press(.enter) == [.countReplay(expected)])
        _ = state.update(.replayCounted(expected, .success(42)))
        guard case .confirm(let confirmation)? = state.modal else {
            Issue.record("no confirmation")
            return
        }
        #expect(confirmation.question.hasPrefix("Redeliver 42 dead connect_refused deliveries to "), "\(confirmation.question)")
        #expect(state.press(.char("y")) == [.perform(.replay(expected))])
        _ = state.update(.operationFinished(.replay(expected), .success(.replayed(42))))
        #expect(state.message?.text.contains("queued 42 for redelivery") == true, "\(state.message?.text ?? "")")
        // Nothing to replay: said, no question.
        state.press(.char("R"))
        state.press(.enter)
        guard case .countingReplay(let counting)? = state.modal else {
            Issue.record("not counting")
            return
        }
        _ = state.update(.replayCounted(counting, .success(0)))
        #expect(state.modal == nil)
        #expect(state.message?.text.hasPrefix("nothing to replay") == true)
    }

    @Test func failureGroupsExpand() async {
        let log = FixtureLog()
        var state = await Fixture.state(log, view: .failures)
        #expect(state.dataRequest.failureSamples == nil)  // collapsed groups fetch no deliveries
        state.press(.right)
        #expect(
            state.dataRequest.failureSamples
                == FailureSampleQuery(endpointId: "ep_down", errorClass: .connectRefused, statusCode: nil, limit: 20))
        await state.reload(from: log)
        #expect(state.rows.count == 4 + 2)
        state.press(.down)
        #expect(state.selectedRow?.delivery?.id == 1007)
        state.press(.left)
        #expect(state.rows.count == 4)
        #expect(state.selectedKey?.hasPrefix("g:ep_down") == true)
        #expect(state.dataRequest.failureSamples == nil)
    }
}
