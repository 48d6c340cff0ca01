import Foundation
import Mailer

/// The service's pages: what each says, as HTML to pour into the list's page
/// template (``PageTemplate``). Every text that comes from the database or
/// the request is escaped (Mailer's `HTMLEscaping`, as in the mail). Forms
/// post to the page's own URL, so they work under any root and behind any
/// proxy; no page needs JavaScript.
enum ServicePages {
    /// A page: its title and its HTML.
    struct Page: Sendable {
        var title: String
        var content: String
        /// The list's Atom feed, for the template's `<link rel="alternate">` (the archive's pages).
        var feedURL: String? = nil
    }

    static func unsubscribeForm(listName: String) -> Page {
        Page(title: "Unsubscribe from \(listName)", content: """
            <h1>Unsubscribe from \(escape(listName))?</h1>
            <p>You will get no more issues of \(escape(listName)). Your other lists, if any, stay as they are.</p>
            <form method="post">
              <button type="submit" name="confirm" value="yes">Unsubscribe</button>
            </form>
            """)
    }

    static func unsubscribed(listName: String) -> Page {
        Page(title: "Unsubscribed from \(listName)", content: """
            <h1>You are unsubscribed</h1>
            <p>You will get no more issues of \(escape(listName)).</p>
            """)
    }

    /// The subscribe form. `lists` has more than one entry when several lists share this root.
    static func subscribeForm(lists: [MailingList], error: String? = nil, email: String = "") -> Page {
        let name = lists.count == 1 ? lists[0].name : lists.map(\.name).joined(separator: ", ")
        var chooser = ""
        if lists.count > 1 {
            chooser = """
                <label for="list">List</label>
                <select id="list" name="list">
                \(lists.map { "<option value=\"\(escape($0.slug))\">\(escape($0.name))</option>" }.joined(separator: "\n"))
                </select>

                """
        }
        let problem = error.map { "<p role=\"alert\"><strong>\(escape($0))</strong></p>\n" } ?? ""
        return Page(title: "Subscribe to \(name)", content: """
            <h1>Subscribe to \(escape(name))</h1>
            \(problem)<form method="post">
            \(chooser)<label for="email">Your email address</label>
            <input type="email" id="email" name="email" required autocomplete="email" value="\(escape(email))">
            <label for="name">Your name <span class="note">(optional)</span></label>
            <input type="text" id="name" name="name" autocomplete="name">
            <div class="trap" aria-hidden="true"><label for="website">Leave this empty</label><input type="text" id="website" name="website" tabindex="-1" autocomplete="off"></div>
            <div class="actions"><button type="submit">Subscribe</button></div>
            </form>
            <p class="note">We will send you an email with a link to confirm. Nothing is sent to you until you do.</p>
            """)
    }

    /// The same answer whoever the address belongs to (the form cannot be used to learn who is on a list).
    static func checkInbox(listName: String) -> Page {
        Page(title: "Check your inbox", content: """
            <h1>Check your inbox</h1>
            <p>If the address can get mail, a message with a link to confirm your subscription to \(escape(listName)) \
            is on its way. The link works for \(DoubleOptIn.confirmDays) days.</p>
            <p class="note">Nothing arrived? Look in your spam folder, or subscribe again later.</p>
            """)
    }

    static func confirmForm(listName: String) -> Page {
        Page(title: "Confirm your subscription to \(listName)", content: """
            <h1>Confirm your subscription</h1>
            <p>Do you want to receive \(escape(listName)) by email?</p>
            <form method="post">
              <button type="submit" name="confirm" value="yes">Yes, subscribe me</button>
            </form>
            """)
    }

    static func confirmed(listName: String, welcome: Bool) -> Page {
        Page(title: "Subscribed to \(listName)", content: """
            <h1>You are subscribed</h1>
            <p>Thank you: you will get \(escape(listName)) by email.\(welcome ? " A welcome message is on its way." : "")</p>
            """)
    }

    /// One line of the preference page: a list the person is on (or was), and whether it mails them.
    struct Choice: Sendable {
        var slug: String
        var name: String
        var status: String
        /// A link to confirm (join again) is on its way and still valid.
        var awaitingConfirmation = false

        /// Shown ticked: it mails them, or will once they confirm.
        var isTicked: Bool { status == "active" || status == "pending" || awaitingConfirmation }
    }

    static func preferences(email: String, choices: [Choice], notice: String? = nil) -> Page {
        let rows = choices.map { choice -> String in
            let id = "list-\(escape(choice.slug))"
            let state: String
            switch choice.status {
            case "active": state = ""
            case _ where choice.awaitingConfirmation || choice.status == "pending":
                state = " <span class=\"note\">(waiting for your confirmation: see the link we sent you)</span>"
            case "bounced": state = " <span class=\"note\">(stopped: mail to you bounced)</span>"
            case "complained": state = " <span class=\"note\">(stopped: you reported it as spam)</span>"
            default: state = " <span class=\"note\">(unsubscribed)</span>"
            }
            return """
                <label class="choice" for="\(id)"><input type="checkbox" id="\(id)" name="list" value="\(escape(choice.slug))"\
                \(choice.isTicked ? " checked" : "")> \(escape(choice.name))\(state)</label>
                """
        }.joined(separator: "\n")
        let top = notice.map { "<p role=\"status\"><strong>\(escape($0))</strong></p>\n" } ?? ""
        return Page(title: "Your subscriptions", content: """
            <h1>Your subscriptions</h1>
            \(top)<p>The lists that \(escape(email)) is on. Untick a list to leave it; tick one you left to join it again \
            (we send you a link to confirm).</p>
            <form method="post">
            <fieldset>
            <legend>Lists</legend>
            \(rows)
            </fieldset>
            <div class="actions">
              <button type="submit" name="action" value="save">Save</button>
              <button type="submit" name="action" value="all" class="secondary">Unsubscribe from all</button>
            </div>
            </form>
            """)
    }

    static func problem(title: String, message: String) -> Page {
        Page(title: title, content: """
            <h1>\(escape(title))</h1>
            <p>\(escape(message))</p>
            """)
    }

    /// Text and double-quoted attributes (the pages use no single-quoted ones).
    static func escape(_ text: String) -> String { HTMLEscaping.escape(text) }
}
