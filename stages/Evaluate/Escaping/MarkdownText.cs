using System.Text;

namespace BottleneckPipeline.Evaluate.Escaping;

/// <summary>
/// Names and sentences in evaluation.md, so that a renderer shows them as they are: a name must make
/// no HTML element (a file named &lt;img src=x onerror=...&gt; runs its script where raw HTML is
/// rendered), no link, emphasis or code, and no extra table cell or row. Control and bidirectional
/// characters are made visible first (<see cref="VisibleText"/>), so no name holds a line break.
/// </summary>
internal static class MarkdownText
{
    /// <summary>
    /// A class or file name: a code span, inside which CommonMark reads no markup, entity, link or
    /// autolink at all (plain text could not stop GitHub's autolinks from making x@y.co a mailto: link).
    /// Its fence is a run of backticks longer than any in the name; in a table cell a '|' is escaped,
    /// which GitHub's tables ask for inside code spans too.
    /// </summary>
    public static string Name(string name, bool inTable)
    {
        var text = VisibleText.Of(name);
        if (inTable) text = text.Replace("|", "\\|");
        var longest = 0;
        for (var run = 0; run < text.Length; run++)
        {
            var end = run;
            while (end < text.Length && text[end] == '`') end++;
            longest = Math.Max(longest, end - run);
            run = end;
        }
        var fence = new string('`', longest + 1);
        // A space inside each end when the name begins or ends with a backtick, or with a space at both: CommonMark takes one off each end.
        var pad = text.StartsWith('`') || text.EndsWith('`') || text.Length > 1 && text[0] == ' ' && text[^1] == ' ' && text.Trim(' ').Length > 0 ? " " : "";
        return fence + pad + text + pad + fence;
    }

    /// <summary>
    /// A sentence that may hold names (a warning, a note, a rule): shown as text. &amp;, &lt; and &gt; as
    /// entities; backslash escapes for what makes emphasis, code, links, strikethrough, math and table
    /// cells, and for '#' (GitHub's issue links). No autolink starts: "www." and "://" are broken by an
    /// escape, and '@' by an empty HTML comment after it, the one thing that keeps cmark-gfm (GitHub's
    /// renderer) from reading an e-mail address there; no renderer shows a comment. Nothing in the text
    /// begins a line, so block syntax (#, >, lists) cannot act.
    /// </summary>
    public static string Text(string text)
    {
        text = VisibleText.Of(text);
        var sb = new StringBuilder(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '\\' or '`' or '*' or '_' or '[' or ']' or '~' or '|' or '$' or '#': sb.Append('\\').Append(c); break;
                case '@': sb.Append("@<!-- -->"); break;
                case ':' when text.AsSpan(i).StartsWith("://"): sb.Append("\\:"); break;
                case '.' when i >= 3 && text.AsSpan(i - 3, 3).Equals("www", StringComparison.OrdinalIgnoreCase): sb.Append("\\."); break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}
