using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Names;

/// <summary>
/// evaluation.md as real renderers make it HTML: cmark-gfm with GitHub's extensions (tables, autolinks,
/// strikethrough) and cmark (plain CommonMark), both with --unsafe, which passes raw HTML through as a
/// renderer that trusts its input does. A name must come out as text, never as markup, a link or a cell.
/// </summary>
internal static partial class MarkdownRendering
{
    public static string? Gfm { get; } = Find("cmark-gfm");
    public static string? CommonMark { get; } = Find("cmark");

    /// <summary>What the report's own Markdown makes: its headings, lists, tables, code spans, bold figures,
    /// the warnings' quotes, links to the page (and its Dataset issues section) and one image (the confusion matrix).</summary>
    private static readonly HashSet<string> OwnTags =
        ["h1", "h2", "p", "ul", "li", "strong", "code", "table", "thead", "tbody", "tr", "th", "td", "a", "img", "blockquote"];

    /// <summary>Renders <paramref name="markdown"/> both ways and checks every name in <paramref name="report"/> came out as literal text.</summary>
    public static void AssertLiteral(string markdown, EvaluationReport report)
    {
        foreach (var (renderer, args) in new[] { (Gfm!, "-e table -e autolink -e strikethrough --unsafe"), (CommonMark!, "--unsafe") })
        {
            var html = Render(renderer, args, markdown);
            var context = $"{Path.GetFileName(renderer)} made:\n{html}";
            var tags = Regex.Matches(html, "<([a-zA-Z][a-zA-Z0-9]*)").Select(m => m.Groups[1].Value.ToLowerInvariant()).ToList();
            var made = tags.Where(t => !OwnTags.Contains(t)).Distinct().ToList();
            Assert.True(made.Count == 0, $"a name made an element ({string.Join(", ", made)}); {context}");
            // Links only to the page, and to its Dataset issues section when the data doctor's findings are listed.
            var links = Regex.Matches(html, "<a [^>]*>").Select(m => m.Value).ToList();
            Assert.Contains("<a href=\"evaluation.html\">", links);
            Assert.All(links, l => Assert.Contains(l, new[] { "<a href=\"evaluation.html\">", "<a href=\"evaluation.html#issues\">" }));
            Assert.Equal(["<img src=\"confusion_matrix.png\" alt=\"confusion matrix\" />"], Regex.Matches(html, "<img [^>]*>").Select(m => m.Value));
            if (renderer == Gfm) AssertTables(html, report, context);
            // No control character (but the line breaks between elements) and no bidirectional control reaches the reader.
            Assert.False(Invisible().IsMatch(html), $"a control or bidirectional character is left in; {context}");
        }
    }

    /// <summary>Every row has its header's cells; the per-class, confusion and mistakes tables name each class and image as it is.</summary>
    private static void AssertTables(string html, EvaluationReport report, string context)
    {
        List<string> Cells(string row) => [.. Regex.Matches(row, "<t[hd][^>]*>(.*?)</t[hd]>", RegexOptions.Singleline).Select(c => Text(c.Groups[1].Value))];
        List<List<string>> Rows(string table) => [.. Regex.Matches(table, "<tr>(.*?)</tr>", RegexOptions.Singleline).Select(r => Cells(r.Groups[1].Value))];
        var tables = Regex.Matches(html, "<table>(.*?)</table>", RegexOptions.Singleline).Select(t => Rows(t.Groups[1].Value)).ToList();
        foreach (var rows in tables)
            Assert.True(rows.All(r => r.Count == rows[0].Count), $"a row of the table headed {string.Join(" | ", rows[0])} has more or fewer cells; {context}");
        var labels = report.ConfusionMatrix.Labels.Select(HostileNames.Shown).ToList();

        var perClass = tables.Single(t => t[0][0] == "class");
        Assert.Equal(report.PerClass.Select(c => HostileNames.Shown(c.Label)), perClass.Skip(1).Select(r => r[0]));
        var confusion = tables.Single(t => t[0][0] == "true \\ predicted");
        Assert.Equal(labels, confusion[0].Skip(1));
        Assert.Equal(labels, confusion.Skip(1).Select(r => r[0]));
        if (report.Misclassified.Length == 0) return;
        var mistakes = tables.Single(t => t[0][0] == "image");
        var listed = report.Misclassified.Take(EvaluationWriter.MarkdownMisclassifiedLimit);
        Assert.Equal(listed.Select(m => new[] { m.Path, m.TrueLabel, m.PredictedLabel }.Select(HostileNames.Shown)), mistakes.Skip(1).Select(r => r.Take(3)));
    }

    /// <summary>A cell's text as a browser shows it: tags dropped, entities decoded.</summary>
    private static string Text(string cellHtml) => WebUtility.HtmlDecode(Regex.Replace(cellHtml, "<[^>]*>", ""));

    public static string Render(string renderer, string args, string markdown)
    {
        var psi = new ProcessStartInfo(renderer, args)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardInput.Write(markdown);
        p.StandardInput.Close();
        if (!p.WaitForExit(TimeSpan.FromSeconds(30))) throw new TimeoutException($"{renderer} did not finish");
        return p.ExitCode == 0 ? stdout.Result : throw new InvalidOperationException($"{renderer} exited {p.ExitCode}: {stderr.Result}");
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);

    [GeneratedRegex("[\u0000-\u0009\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]")]
    private static partial Regex Invisible();
}

/// <summary>A test that renders Markdown with cmark-gfm and cmark: skipped, with a note saying so, where they are not installed.</summary>
public sealed class CmarkFactAttribute : FactAttribute
{
    public CmarkFactAttribute()
    {
        if (MarkdownRendering.Gfm is null || MarkdownRendering.CommonMark is null)
            Skip = "cmark-gfm and cmark are not installed here (apt-get install cmark-gfm cmark): evaluation.md is not rendered.";
    }
}
