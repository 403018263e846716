using System.Text.RegularExpressions;
using ScottPlot;

namespace BottleneckPipeline.Reporting;

/// <summary>A ScottPlot plot as an &lt;svg&gt; element for an HTML page.</summary>
internal static partial class InlineSvg
{
    /// <summary>
    /// The plot drawn at <paramref name="width"/> by <paramref name="height"/>, scaled by the page (a viewBox instead of a
    /// fixed size), with no XML declaration or namespaces (HTML gives inline SVG its own), labelled for screen readers.
    /// </summary>
    public static string Of(Plot plot, int width, int height, string label)
    {
        var xml = plot.GetSvgXml(width, height);
        var root = SvgRoot().Match(xml);
        if (!root.Success) throw new InvalidOperationException("ScottPlot's SVG does not start as expected: " + xml[..Math.Min(200, xml.Length)]);
        // ScottPlot indents with tabs; the page holds no control character but the line break, so its text reads as it is.
        var body = xml[root.Length..].Trim().Replace("\t", "", StringComparison.Ordinal);
        return $"<svg viewBox=\"0 0 {root.Groups["w"].Value} {root.Groups["h"].Value}\" role=\"img\" aria-label=\"{label}\">" + body;
    }

    [GeneratedRegex("""^\s*(<\?xml[^>]*\?>\s*)?<svg [^>]*width="(?<w>[0-9.]+)" height="(?<h>[0-9.]+)"[^>]*>""")]
    private static partial Regex SvgRoot();
}
