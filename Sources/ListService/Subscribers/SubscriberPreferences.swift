import Foundation
import Postgres

/// The preference page's data (`/preferences/{token}`): the lists a person
/// is on or was on, and what saving the page changes.
struct SubscriberPreferences: Sendable {
    let database: ListDatabase
    let configuration: ListctlConfiguration
    let forgetKeys: ForgetKeys?

    struct Current: Sendable {
        var subscriberID: Int64
        var email: String
        var choices: [ServicePages.Choice]
        var lists: [String: MailingList]
    }

    /// nil for a subscriber who is gone.
    func load(subscriberID: Int64) async throws -> Current? {
        try await database.pool.withConnection { connection in
            guard let email: String = try await connection.query(
                "SELECT email FROM subscribers WHERE id = $1", subscriberID).first?.decode(at: 0) else { return nil }
            let rows = try await connection.query("""
                SELECT l.slug, s.status,
                       EXISTS (SELECT 1 FROM consent_requests r
                               WHERE r.list_id = s.list_id AND r.subscriber_id = s.subscriber_id AND r.confirmed_at IS NULL
                                 AND r.requested_at > now() - make_interval(days => $2)
                                 AND r.requested_at > coalesce(s.unsubscribed_at, '-infinity'))
                FROM subscriptions s JOIN lists l ON l.id = s.list_id
                WHERE s.subscriber_id = $1 ORDER BY l.name, l.slug
                """, subscriberID, DoubleOptIn.confirmDays)
            var choices: [ServicePages.Choice] = []
            var lists: [String: MailingList] = [:]
            for row in rows {
                let slug: String = try row.decode(at: 0)
                guard let list = try await ListStore.find(slug, on: connection) else { continue }
                lists[slug] = list
                choices.append(ServicePages.Choice(
                    slug: slug, name: list.name, status: try row.decode(at: 1), awaitingConfirmation: try row.decode(at: 2)))
            }
            return Current(subscriberID: subscriberID, email: email, choices: choices, lists: lists)
        }
    }

    /// What a save did, for the page's notice.
    struct Saved: Sendable {
        var left: [String] = []
        var confirming: [String] = []

        var summary: String {
            var sentences: [String] = []
            if !left.isEmpty { sentences.append("You left \(left.joined(separator: ", ")).") }
            if !confirming.isEmpty {
                sentences.append("To join \(confirming.joined(separator: ", ")) again, use the link we are sending you.")
            }
            return sentences.isEmpty ? "Saved: nothing changed." : "Saved. " + sentences.joined(separator: " ")
        }
    }

    /// `wanted`: the slugs ticked. A ticked list that mails them (active) or waits for their confirmation
    /// (pending, or a link to join again on its way) stays; an unticked one is left (this subscription only); a ticked one they had left gets a
    /// confirmation mail, never an active subscription at once.
    func save(_ current: Current, wanted: Set<String>, issueID: Int64?, consent: DoubleOptIn.Consent) async throws -> Saved {
        var saved = Saved()
        let changes = SubscriptionChanges(database: database)
        let optIn = DoubleOptIn(database: database, configuration: configuration, forgetKeys: forgetKeys)
        for choice in current.choices {
            guard let list = current.lists[choice.slug] else { continue }
            let mails = choice.isTicked
            if mails && !wanted.contains(choice.slug) {
                if case .unsubscribed = try await changes.unsubscribe(
                    listID: list.id, subscriberID: current.subscriberID, issueID: issueID, source: "preferences") {
                    saved.left.append(list.name)
                }
            } else if !mails && wanted.contains(choice.slug) {
                _ = try await optIn.request(email: current.email, list: list, name: nil, consent: consent)
                saved.confirming.append(list.name)
            }
        }
        return saved
    }
}
