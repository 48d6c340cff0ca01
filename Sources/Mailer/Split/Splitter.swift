/// Chooses where to cut a sequence of units into parts (DESIGN §5).
///
/// A part's cost is the sum of its units' (encoded HTML, and encoded text
/// when the budget counts it), plus, once each, the
/// footnotes they cite, the notes heading, and the open/close of every split
/// block it holds a piece of. That cost only grows as a part grows, so the
/// furthest cut reachable from each position (`reach`) is found with two
/// pointers, and the fewest parts from each position to the end follows
/// backwards. The cut chosen is then the latest one that still allows the
/// target count, moved back to a heading when one is in the last half of the
/// part: parts start at sections where they can without adding a part.
struct Splitter {
    let units: [ContentUnit]
    let groups: [UnitGroup]
    let footnotes: [FootnoteEntry]
    let notesHeadingCost: Int
    /// Resources of each unit: footnote n is n-1, the notes heading is F, group g is F+1+g.
    let resources: [[Int32]]
    let resourceCost: [Int]
    /// What a part's room is left after, for messages: "the template", or more with the `message` scope.
    var overheadLabel = "the template"

    init(units: [ContentUnit], groups: [UnitGroup], footnotes: [FootnoteEntry], notesHeadingCost: Int) {
        self.units = units
        self.groups = groups
        self.footnotes = footnotes
        self.notesHeadingCost = notesHeadingCost
        let f = Int32(footnotes.count)
        resourceCost = footnotes.map(\.cost) + [notesHeadingCost] + groups.map(\.encodedCost)
        resources = units.map { unit in
            var list = unit.footnotes.map { $0 - 1 }
            if !unit.footnotes.isEmpty { list.append(f) }
            if unit.group >= 0 { list.append(f + 1 + unit.group) }
            return list
        }
    }

    /// The encoded size of units `range` as one part's content.
    func contentSize(_ range: Range<Int>) -> Int {
        var seen = Set<Int32>()
        var size = 0
        for i in range {
            size += units[i].cost
            for r in resources[i] where seen.insert(r).inserted { size += resourceCost[Int(r)] }
        }
        return size
    }

    /// For each start position, one past the last unit that fits with it in `capacity`.
    /// - Throws: `.blockTooLarge` for a unit that alone does not fit.
    func reach(capacity: Int, fileName: String, lineOffset: Int) throws -> [Int] {
        let m = units.count
        var reach = [Int](repeating: 0, count: m)
        var counts = [Int32](repeating: 0, count: resourceCost.count)
        var size = 0
        var j = 0
        for i in 0..<m {
            if j < i { j = i }
            while j < m {
                var add = units[j].cost
                for r in resources[j] where counts[Int(r)] == 0 { add += resourceCost[Int(r)] }
                if size + add > capacity { break }
                size += add
                for r in resources[j] { counts[Int(r)] += 1 }
                j += 1
            }
            if j == i {
                let unit = units[i]
                var alone = unit.cost
                for r in resources[i] { alone += resourceCost[Int(r)] }
                throw MailerError(
                    code: .blockTooLarge,
                    message: "this \(unit.label) is \(alone) bytes once encoded (with its footnotes), more than the \(max(0, capacity)) bytes a part has room for after \(overheadLabel), and it cannot be cut; make it smaller or raise the budget",
                    file: fileName, line: unit.line + lineOffset)
            }
            reach[i] = j
            size -= units[i].cost
            for r in resources[i] {
                counts[Int(r)] -= 1
                if counts[Int(r)] == 0 { size -= resourceCost[Int(r)] }
            }
        }
        return reach
    }

    struct Plan {
        var ranges: [Range<Int>]
        /// The fewest parts possible at this capacity.
        var minimum: Int
    }

    /// Cuts the units into parts of at most `capacity` encoded content bytes.
    func plan(capacity: Int, fileName: String, lineOffset: Int) throws -> Plan {
        let m = units.count
        guard m > 0 else { return Plan(ranges: [0..<0], minimum: 1) }
        let reach = try reach(capacity: capacity, fileName: fileName, lineOffset: lineOffset)
        // A cut at j is allowed when unit j-1 is not a heading (a part never ends with one).
        var lastAllowed = [Int](repeating: 0, count: m + 1)
        for j in 1...m {
            lastAllowed[j] = (j == m || !units[j - 1].isHeading) ? j : lastAllowed[j - 1]
        }
        func furthest(_ i: Int) -> Int {
            let allowed = lastAllowed[reach[i]]
            return allowed > i ? allowed : reach[i]  // a run of headings over budget: no choice
        }
        // fewest[i]: fewest parts for units i..<m.
        var fewest = [Int](repeating: 0, count: m + 1)
        for i in stride(from: m - 1, through: 0, by: -1) { fewest[i] = 1 + fewest[furthest(i)] }
        let minimum = fewest[0]

        var prefix = [Int](repeating: 0, count: m + 1)
        for i in 0..<m { prefix[i + 1] = prefix[i] + units[i].cost }

        func choose(target: Int) -> [Range<Int>] {
            var ranges: [Range<Int>] = []
            var position = 0
            while position < m {
                let remaining = target - ranges.count
                let hi = furthest(position)
                var cut = hi
                if hi < m {
                    // Latest heading start in the window's second half that still leaves enough parts.
                    var j = hi
                    let half = prefix[position] + (prefix[hi] - prefix[position]) / 2
                    while j > position + 1 && prefix[j] >= half {
                        if units[j].isHeading && lastAllowed[j] == j && fewest[j] <= remaining - 1 {
                            cut = j
                            break
                        }
                        j -= 1
                    }
                }
                ranges.append(position..<cut)
                position = cut
            }
            return ranges
        }
        var ranges = choose(target: minimum)
        // One part more is allowed (DESIGN: within one of the minimum) only
        // when it lets every part start at a heading.
        func allAtHeadings(_ ranges: [Range<Int>]) -> Bool {
            ranges.dropFirst().allSatisfy { units[$0.lowerBound].isHeading }
        }
        if !allAtHeadings(ranges) {
            let alternative = chooseAtHeadings(target: minimum + 1, reach: furthest, fewest: fewest)
            if let alternative, allAtHeadings(alternative) { ranges = alternative }
        }
        return Plan(ranges: ranges, minimum: minimum)
    }

    /// A partition into at most `target` parts that all start at headings, if there is one.
    private func chooseAtHeadings(target: Int, reach: (Int) -> Int, fewest: [Int]) -> [Range<Int>]? {
        let m = units.count
        var ranges: [Range<Int>] = []
        var position = 0
        while position < m {
            let hi = reach(position)
            if hi == m {
                ranges.append(position..<m)
                break
            }
            var cut: Int?
            var j = hi
            while j > position {
                if units[j].isHeading && (j == 0 || !units[j - 1].isHeading) {
                    cut = j
                    break
                }
                j -= 1
            }
            guard let chosen = cut else { return nil }
            ranges.append(position..<chosen)
            position = chosen
            if ranges.count > target { return nil }
        }
        return ranges.count <= target ? ranges : nil
    }
}
