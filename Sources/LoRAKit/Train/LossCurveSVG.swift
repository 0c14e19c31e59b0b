import Foundation

/// Renders train and validation loss against the step as a standalone SVG line chart.
public enum LossCurveSVG {
    /// SVG text for the two series (points as (step, loss); non-finite losses are left out).
    public static func render(train: [(Int, Double)], valid: [(Int, Double)], title: String = "LoRAKit loss") -> String {
        let W = 720.0, H = 420.0, left = 64.0, right = 20.0, top = 40.0, bottom = 48.0
        let tr = train.filter { $0.1.isFinite }, va = valid.filter { $0.1.isFinite }
        let all = tr + va
        let maxStep = Double(max(1, all.map(\.0).max() ?? 1))
        var lo = all.map(\.1).min() ?? 0, hi = all.map(\.1).max() ?? 1
        if hi - lo < 1e-6 { hi += 0.5; lo -= 0.5 }
        let pad = (hi - lo) * 0.05
        lo = max(0, lo - pad); hi += pad
        func x(_ s: Int) -> Double { left + (W - left - right) * Double(s) / maxStep }
        func y(_ l: Double) -> Double { top + (H - top - bottom) * (1 - (l - lo) / (hi - lo)) }
        func path(_ pts: [(Int, Double)]) -> String {
            pts.enumerated().map { i, p in String(format: "%@%.1f,%.1f", i == 0 ? "M" : "L", x(p.0), y(p.1)) }.joined(separator: " ")
        }
        var s = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(W))" height="\(Int(H))" viewBox="0 0 \(Int(W)) \(Int(H))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(W / 2))" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

        """
        for i in 0...5 {
            let v = lo + (hi - lo) * Double(i) / 5
            let yy = y(v)
            s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, yy, W - right, yy)
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n", left - 6, yy + 4, v)
        }
        for i in 0...5 {
            let st = Int((maxStep * Double(i) / 5).rounded())
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", x(st), H - bottom + 18, st)
        }
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", (left + W - right) / 2, H - 10)
        s += String(format: "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" text-anchor=\"middle\">loss</text>\n", (top + H - bottom) / 2, (top + H - bottom) / 2)
        s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", left, top, W - left - right, H - top - bottom)
        if !tr.isEmpty { s += "<path d=\"\(path(tr))\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>\n" }
        if !va.isEmpty {
            s += "<path d=\"\(path(va))\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n"
            for p in va { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", x(p.0), y(p.1)) }
        }
        let lx = W - right - 150
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">train loss</text>\n", lx, top + 16, lx + 24, top + 16, lx + 30, top + 20)
        s += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">validation loss</text>\n", lx, top + 34, lx + 24, top + 34, lx + 30, top + 38)
        s += "</svg>\n"
        return s
    }

    static func escape(_ t: String) -> String {
        t.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
