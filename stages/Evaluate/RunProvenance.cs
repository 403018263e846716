using System.Collections;
using System.Globalization;
using System.Text;
using BottleneckPipeline.Config;

namespace BottleneckPipeline.Evaluate;

/// <summary>Which images were scored: their folder and a hash that changes whenever the set does.</summary>
/// <param name="HashName">what the hash is of: Ingest's "index hash" for the test split, a "content hash" for a scored folder.</param>
internal sealed record DatasetIdentity(string Root, string HashName, string Hash);

/// <summary>One top-level section of pipeline.yaml as it was in effect (defaults filled in), with its hash.</summary>
internal sealed record ConfigSection(string Name, string Hash, string Values);

/// <summary>Where a report came from, for the page's provenance: the data, the config and when it was written.</summary>
internal sealed record RunProvenance(DatasetIdentity Dataset, string ConfigPath, IReadOnlyList<ConfigSection> Sections, DateTimeOffset Written)
{
    public static RunProvenance For(PipelineConfig config, DatasetIdentity dataset, DateTimeOffset written) =>
        new(dataset, config.SourcePath,
            [.. ConfigLoader.Keys(typeof(PipelineConfig)).Select(k => new ConfigSection(
                k.Key, config.SectionHashes.TryGetValue(k.Key, out var h) ? h : "", Values(k.Property.GetValue(config))))],
            written);

    /// <summary>A section's keys one per line as pipeline.yaml spells them (a scalar key such as workspace: its value).</summary>
    internal static string Values(object? section)
    {
        if (section is null || IsScalar(section)) return Scalar(section);
        var sb = new StringBuilder();
        foreach (var (key, property) in ConfigLoader.Keys(section.GetType()))
            sb.Append(key).Append(": ").Append(Scalar(property.GetValue(section))).Append('\n');
        return sb.ToString().TrimEnd('\n');
    }

    private static bool IsScalar(object v) => v is string or IFormattable or bool or IEnumerable;

    private static string Scalar(object? v) => v switch
    {
        null => "null",
        string s => s,
        bool b => b ? "true" : "false",
        Enum e => ConfigLoader.Snake(e.ToString(), '-'),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable list => "[" + string.Join(", ", list.Cast<object?>().Select(Scalar)) + "]",
        _ => v.ToString() ?? "",
    };
}
