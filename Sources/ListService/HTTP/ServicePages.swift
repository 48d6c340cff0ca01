import Foundation
import Mailer

/// The service's pages: plain, accessible HTML, readable on a phone, no
/// JavaScript. Every text that comes from the database or the request is
/// escaped (Mailer's `HTMLEscaping`, as in the mail).
enum ServicePages {
    static func unsubscribeForm(listName: String) -> String {
        page(title: "Unsubscribe from \(listName)", body: """
            <h1>Unsubscribe from \(escape(listName))?</h1>
            <p>You will get no more issues of \(escape(listName)). Your other lists, if any, stay as they are.</p>
            <form method="post">
              <button type="submit" name="confirm" value="yes">Unsubscribe</button>
            </form>
            """)
    }

    static func unsubscribed(listName: String) -> String {
        page(title: "Unsubscribed from \(listName)", body: """
            <h1>You are unsubscribed</h1>
            <p>You will get no more issues of \(escape(listName)).</p>
            """)
    }

    static func problem(title: String, message: String) -> String {
        page(title: title, body: """
            <h1>\(escape(title))</h1>
            <p>\(escape(message))</p>
            """)
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body { font: 1.1rem/1.5 system-ui, sans-serif; max-width: 34rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; background: #fff; }
        button { font: inherit; padding: 0.6rem 1.4rem; border: 2px solid #1a1a1a; border-radius: 0.3rem; background: #1a1a1a; color: #fff; cursor: pointer; }
        button:focus { outline: 3px solid #0a58ca; outline-offset: 2px; }
        </style>
        </head>
        <body>
        <main>
        \(body)
        </main>
        </body>
        </html>

        """
    }

    /// Text and double-quoted attributes (the pages use no single-quoted ones).
    static func escape(_ text: String) -> String { HTMLEscaping.escape(text) }
}
