/// One piece of an issue the splitter may put a cut before: a whole
/// top-level block, or, for a block over budget, one of its items, rows,
/// lines, quoted blocks or sentences.
struct ContentUnit: Sendable {
    /// Rendered HTML, ending with a line feed.
    var html: [UInt8]
    /// Its text/plain rendering; the units' texts concatenate to the text.
    var text: [UInt8]
    /// `html` quoted-printable encoded (lines end with CRLF).
    var encodedHTML: [UInt8]
    /// Quoted-printable size of `html`.
    var encodedSize: Int { encodedHTML.count }
    /// What `text` adds to the text alternative once encoded, when the
    /// budget counts it (``BudgetScope/message``); 0 otherwise.
    var textCost: Int = 0
    /// What the unit costs a part under the budget.
    var cost: Int { encodedSize + textCost }
    /// Footnote numbers cited, with the footnotes those cite in turn, sorted.
    var footnotes: [Int32]
    /// A heading: no part may end with it.
    var isHeading: Bool
    /// 1-based line in the Markdown body.
    var line: Int
    /// What the unit is, for messages ("paragraph", "table row").
    var label: String = "block"
    /// Index in `UnitGroups` when this is a piece of a split block.
    var group: Int32 = -1
    /// HTML that opens the block when this piece is the first of its block in a part.
    var openHTML: [UInt8] = []
    /// `openHTML` encoded.
    var encodedOpen: [UInt8] = []
    /// Text repeated when this piece continues its block at the top of a part (a table's header).
    var leadText: [UInt8] = []
}

/// A block cut into pieces: what closes it, and what opening and closing it costs.
struct UnitGroup: Sendable {
    var closeHTML: [UInt8]
    var encodedClose: [UInt8]
    /// Largest encoded open among the pieces plus the encoded close (plus,
    /// when the budget counts the text, the repeated table header's text).
    var encodedCost: Int
}

/// A footnote definition, rendered once, copied into every part that cites it.
struct FootnoteEntry: Sendable {
    var number: Int32
    var html: [UInt8]
    var encodedHTML: [UInt8]
    var text: [UInt8]
    var encodedSize: Int { encodedHTML.count }
    /// What `text` and its line end add to the text alternative, when the budget counts it.
    var textCost: Int = 0
    var cost: Int { encodedSize + textCost }
}
