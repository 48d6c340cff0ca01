import Foundation
import Mustache

/// The frame of `serve`'s pages: a Mustache template with `{{title}}`,
/// `{{list_name}}`, `{{{content}}}` (the page's HTML, already escaped) and,
/// on the archive's pages, `{{feed_url}}` (the list's Atom feed).
/// A list can have its own (`listctl lists set SLUG --page-template FILE`),
/// like its e-mail template; the built-in one is plain, accessible HTML,
/// readable on a phone, with no script.
public struct PageTemplate: Sendable {
    let template: MustacheTemplate

    /// - Throws: ``ListServiceError`` `.invalidInput` naming `name` and saying what does not parse.
    public init(string: String, name: String) throws {
        do {
            template = try MustacheTemplate(string: string)
        } catch {
            throw ListServiceError(code: .invalidInput, message: "\(name): the page template does not parse (\(error))")
        }
        guard string.contains("{{{content}}}") || string.contains("{{& content}}") || string.contains("{{&content}}") else {
            throw ListServiceError(code: .invalidInput, message: "\(name): the page template must place the page with {{{content}}}")
        }
    }

    /// `page` in `list`'s page template (the built-in one when the list has none, or for no list): what
    /// `serve` answers and `archive export` writes.
    static func frame(_ page: ServicePages.Page, list: MailingList?) -> String {
        let template = list?.pageTemplate.flatMap { try? PageTemplate(string: $0, name: "list \(list?.slug ?? "")") } ?? .builtIn
        return template.render(title: page.title, listName: list?.name, content: page.content, feedURL: page.feedURL)
    }

    func render(title: String, listName: String?, content: String, feedURL: String? = nil) -> String {
        template.render(["title": title, "list_name": listName ?? "", "content": content, "feed_url": feedURL ?? ""])
    }

    /// The built-in frame.
    static let builtIn = try! PageTemplate(string: """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}}</title>
        {{#feed_url}}<link rel="alternate" type="application/atom+xml" title="{{list_name}}" href="{{feed_url}}">
        {{/feed_url}}
        <style>
        body { font: 1.1rem/1.5 system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem; color: #1a1a1a; background: #fff; overflow-wrap: break-word; }
        a { color: #0a58ca; }
        button { font: inherit; padding: 0.6rem 1.4rem; border: 2px solid #1a1a1a; border-radius: 0.3rem; background: #1a1a1a; color: #fff; cursor: pointer; }
        button.secondary { background: #fff; color: #1a1a1a; }
        button:focus, input:focus { outline: 3px solid #0a58ca; outline-offset: 2px; }
        label { display: block; margin: 1rem 0 0.3rem; font-weight: 600; }
        input[type=email], input[type=text], select { font: inherit; width: 100%; box-sizing: border-box; padding: 0.5rem; border: 2px solid #555; border-radius: 0.3rem; }
        fieldset { border: 0; padding: 0; margin: 1rem 0; }
        .choice { display: flex; gap: 0.6rem; align-items: center; margin: 0.6rem 0; font-weight: normal; }
        .choice input { width: 1.4rem; height: 1.4rem; }
        .trap { position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }
        .actions { display: flex; flex-wrap: wrap; gap: 0.8rem; margin-top: 1.2rem; }
        .note { color: #444; font-size: 0.95rem; }
        article { font-family: Georgia, "Times New Roman", serif; font-size: 1.15rem; line-height: 1.6; }
        article h1, article h2, article h3, header.archive h1 { font-family: system-ui, sans-serif; line-height: 1.25; }
        article img { max-width: 100%; height: auto; }
        article sup { line-height: 0; }
        article pre { overflow-x: auto; padding: 0.8rem; background: #f4f4f4; font-size: 0.95rem; }
        article table { display: block; max-width: 100%; overflow-x: auto; border-collapse: collapse; }
        article th, article td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
        article blockquote { margin: 1rem 0; padding-left: 1rem; border-left: 4px solid #ccc; color: #333; }
        .footnotes { font-size: 1rem; border-top: 1px solid #ccc; margin-top: 2.5rem; }
        .date { color: #555; font-size: 0.95rem; font-family: system-ui, sans-serif; }
        .issues { list-style: none; padding: 0; }
        .issues li { margin: 1.6rem 0; }
        .issues h2 { margin: 0 0 0.2rem; font-size: 1.3rem; }
        .issues p { margin: 0.2rem 0; }
        nav.pages { display: flex; gap: 1rem; justify-content: space-between; margin: 2rem 0; }
        footer.archive { margin-top: 2.5rem; border-top: 1px solid #ccc; }
        </style>
        </head>
        <body>
        <main>
        {{{content}}}
        </main>
        </body>
        </html>

        """, name: "the built-in page template")
}
