using System.Net;

namespace BottleneckPipeline.Evaluate.Escaping;

/// <summary>
/// Names and text in the pages (evaluation.html, the --data page). Everything is HTML-encoded, and
/// control and bidirectional characters are shown as \xNN and \uNNNN (<see cref="VisibleText"/>),
/// so an override in a name cannot turn it backwards. A name also stands in its own &lt;bdi&gt;, so
/// that even a right-to-left script in it moves no text around it ("11.3%" stays "11.3%").
/// </summary>
internal static class HtmlText
{
    /// <summary>Text in an element (a sentence, a figure): encoded, hidden characters shown.</summary>
    public static string Text(string text) => WebUtility.HtmlEncode(VisibleText.Of(text));

    /// <summary>Text of several lines for a &lt;pre&gt;: as <see cref="Text"/>, its line breaks kept.</summary>
    public static string Lines(string text) => WebUtility.HtmlEncode(VisibleText.Lines(text));

    /// <summary>A class or file name, or a path, in an element: as <see cref="Text"/>, isolated in a &lt;bdi&gt;.</summary>
    public static string Name(string name) => "<bdi>" + Text(name) + "</bdi>";

    /// <summary>A value in a double-quoted attribute (alt, title, data-*): encoded (quotes too), hidden characters shown.</summary>
    public static string Attribute(string value) => WebUtility.HtmlEncode(VisibleText.Of(value));

    /// <summary>
    /// The file: URL of an absolute path, built from the path itself: each segment percent-encoded
    /// whole, so that '#', '?' and '%41' in a name are part of the file's name, not a fragment, a query
    /// or an 'A', and the link opens that very file.
    /// </summary>
    public static string FileUrl(string path) =>
        "file://" + string.Join('/', Path.GetFullPath(path).Split('/').Select(Uri.EscapeDataString));
}
