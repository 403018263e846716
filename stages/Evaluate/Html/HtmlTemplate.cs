using System.Text.RegularExpressions;

namespace BottleneckPipeline.Evaluate.Html;

/// <summary>
/// An HTML file built into the assembly, with {{name}} slots that are each filled with ready-made
/// markup. Filling is one pass, so a slot's markup is never searched for further slots.
/// </summary>
internal static partial class HtmlTemplate
{
    public static string Load(string resourceName)
    {
        using var stream = typeof(HtmlTemplate).Assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"the template {resourceName} is not built into {typeof(HtmlTemplate).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        // As a browser reads it: its parser turns CR LF into LF before anything else, so a hash of a
        // script in the template (the page's Content-Security-Policy) is a hash of what it runs.
        return reader.ReadToEnd().ReplaceLineEndings("\n");
    }

    /// <summary>Fills every slot; a slot without markup, or markup without a slot, is a bug in the caller.</summary>
    public static string Fill(string template, IReadOnlyDictionary<string, string> slots)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var filled = Slot().Replace(template, m =>
        {
            var name = m.Groups[1].Value;
            if (!slots.TryGetValue(name, out var markup)) throw new InvalidOperationException($"no markup for the template's slot {{{{{name}}}}}");
            used.Add(name);
            return markup;
        });
        var unused = slots.Keys.Where(k => !used.Contains(k)).ToList();
        if (unused.Count > 0) throw new InvalidOperationException($"the template has no slot for: {string.Join(", ", unused)}");
        return filled;
    }

    [GeneratedRegex(@"\{\{([a-z_]+)\}\}")]
    private static partial Regex Slot();
}
