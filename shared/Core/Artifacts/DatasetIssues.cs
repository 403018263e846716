using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Artifacts;

/// <summary>An image whose given label the evidence says is wrong.</summary>
/// <param name="Path">relative to dataset.root, '/' separators.</param>
/// <param name="Score">0..1: how strongly the evidence says <paramref name="Given"/> is wrong (1 - its probability).</param>
/// <param name="Split">train, validation or test.</param>
public sealed record LabelIssue(string Path, string Given, string Suggested, double Score, string Split);

/// <summary>Two distinct files showing nearly the same picture.</summary>
/// <param name="Similarity">the cosine similarity of their bottleneck vectors.</param>
/// <param name="Kind"><see cref="NearDuplicateKinds"/>: conflict (different labels), leak (different splits) or same-split.</param>
/// <param name="ALabel">A's label (class folder); "" in a file written before the pairs carried them, and so for the others.</param>
/// <param name="ASplit">A's split: train, validation or test.</param>
public sealed record NearDuplicate(string A, string B, double Similarity, string Kind,
    string ALabel = "", string ASplit = "", string BLabel = "", string BSplit = "")
{
    /// <summary>The test image of a leak between train and test (one image in each split), whose copy the head trained on; null otherwise.</summary>
    public string? LeakedTestImage => Kind != NearDuplicateKinds.Leak ? null
        : (ASplit, BSplit) switch { ("train", "test") => B, ("test", "train") => A, _ => null };
}

/// <summary>An image far from every other (its nearest neighbours' mean cosine distance).</summary>
public sealed record Outlier(string Path, double Score);

/// <summary>The kinds of near-duplicate pair, as the file spells them.</summary>
public static class NearDuplicateKinds
{
    public const string Conflict = "conflict";
    public const string Leak = "leak";
    public const string SameSplit = "same-split";
}

/// <summary>
/// reports/dataset_issues.json, the Audit stage's artifact ("the data doctor"), written and read only
/// here. Every list runs most suspicious first. The file:
/// <code>
/// {"label_issues": [{"path": "roses/1.jpg", "given": "roses", "suggested": "tulips", "score": 0.93, "split": "train"}, ...],
///  "near_duplicates": [{"a": "...", "b": "...", "similarity": 0.987, "kind": "leak|conflict|same-split",
///                       "a_label": "roses", "a_split": "train", "b_label": "roses", "b_split": "test"}, ...],
///  "outliers": [{"path": "...", "score": 0.52}, ...],
///  "class_counts": {"roses": {"train": 240, "validation": 30, "test": 30}, ...},
///  "class_balance_warning": null or "...",
///  "seconds": {"out_of_fold": 0.4, ...},
///  "inputs_hash": "..."}
/// </code>
/// Keys other tools do not know are ignored on reading, so the file can grow.
/// </summary>
public sealed record DatasetIssues
{
    /// <summary>The Audit stage's method: changed whenever what it finds or writes changes, so that an old report is redone.</summary>
    public const string Method = "audit-3";

    /// <summary>
    /// The Audit stage's inputs hash: its method, the train_head section (the out-of-fold heads follow it), Extract's inputs
    /// (the index, its splits, the backbone) and the images dataset.exclude leaves out (<paramref name="excludeHash"/>, "" when
    /// none). Evaluate compares it with the file's, to tell a report written for other inputs.
    /// </summary>
    public static string InputsHashFor(PipelineConfig config, ExtractSummary extract, string excludeHash) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            $"method={Method}\ntrain_head={config.SectionHashes.GetValueOrDefault("train_head", "none")}\n" +
            $"extract={extract.InputsHash}\nbackbone={extract.Fingerprint}" + (excludeHash.Length > 0 ? $"\nexclude={excludeHash}" : ""))))[..16];

    public IReadOnlyList<LabelIssue> LabelIssues { get; init; } = [];
    public IReadOnlyList<NearDuplicate> NearDuplicates { get; init; } = [];
    public IReadOnlyList<Outlier> Outliers { get; init; } = [];

    /// <summary>class -> split -> images, every class and split of the index (zeros included).</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> ClassCounts { get; init; } =
        new Dictionary<string, IReadOnlyDictionary<string, int>>();

    /// <summary>Why the classes are out of balance, when they are; null otherwise.</summary>
    public string? ClassBalanceWarning { get; init; }

    /// <summary>How long each part of the audit took, in seconds (out_of_fold, neighbours, ...): for a person and the bench.</summary>
    public IReadOnlyDictionary<string, double> Seconds { get; init; } = new Dictionary<string, double>();

    /// <summary>The Audit stage's inputs hash (index, cache, train_head section): a rerun with the same is up to date.</summary>
    public string InputsHash { get; init; } = "";

    public int Leaks => NearDuplicates.Count(d => d.Kind == NearDuplicateKinds.Leak);

    /// <summary>The test images of the leaks between train and test, each once, in the file's order.</summary>
    public IReadOnlyList<string> LeakedTestImages => [.. NearDuplicates.Select(d => d.LeakedTestImage).OfType<string>().Distinct(StringComparer.Ordinal)];
    public int Conflicts => NearDuplicates.Count(d => d.Kind == NearDuplicateKinds.Conflict);

    /// <summary>The workspace's file, or null when Audit has not written one (or it is unreadable).</summary>
    public static DatasetIssues? TryRead(PipelineConfig config) => TryRead(ArtifactPaths.DatasetIssues(config));

    public static DatasetIssues? TryRead(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException or IOException
                                   or KeyNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Reads the file's text; throws <see cref="JsonException"/> or <see cref="InvalidOperationException"/> on a malformed one.</summary>
    public static DatasetIssues Parse(string json)
    {
        var o = JsonNode.Parse(json)?.AsObject() ?? throw new JsonException("dataset issues: not a JSON object");
        static string S(JsonNode? n, string key) => n![key]!.GetValue<string>();
        static double D(JsonNode? n, string key) => n![key]!.GetValue<double>();
        static string Optional(JsonNode? n, string key) => n![key]?.GetValue<string>() ?? "";
        static IEnumerable<JsonNode?> List(JsonObject o, string key) => o[key] as JsonArray ?? [];
        var counts = new Dictionary<string, IReadOnlyDictionary<string, int>>(StringComparer.Ordinal);
        if (o["class_counts"] is JsonObject cc)
            foreach (var (cls, splits) in cc)
                counts[cls] = splits!.AsObject().ToDictionary(s => s.Key, s => s.Value!.GetValue<int>(), StringComparer.Ordinal);
        return new DatasetIssues
        {
            LabelIssues = [.. List(o, "label_issues")
                .Select(n => new LabelIssue(S(n, "path"), S(n, "given"), S(n, "suggested"), D(n, "score"), S(n, "split")))],
            NearDuplicates = [.. List(o, "near_duplicates").Select(n => new NearDuplicate(S(n, "a"), S(n, "b"), D(n, "similarity"), S(n, "kind"),
                Optional(n, "a_label"), Optional(n, "a_split"), Optional(n, "b_label"), Optional(n, "b_split")))],
            Outliers = [.. List(o, "outliers").Select(n => new Outlier(S(n, "path"), D(n, "score")))],
            ClassCounts = counts,
            ClassBalanceWarning = o["class_balance_warning"]?.GetValue<string>(),
            Seconds = (o["seconds"] as JsonObject)?.ToDictionary(p => p.Key, p => p.Value!.GetValue<double>(), StringComparer.Ordinal)
                      ?? new Dictionary<string, double>(),
            InputsHash = o["inputs_hash"]?.GetValue<string>() ?? "",
        };
    }

    public string ToJson()
    {
        static double R(double v) => Math.Round(v, 4);
        var counts = new JsonObject();
        foreach (var (cls, splits) in ClassCounts)
        {
            var s = new JsonObject();
            foreach (var (split, n) in splits) s[split] = n;
            counts[cls] = s;
        }
        var o = new JsonObject
        {
            ["label_issues"] = new JsonArray([.. LabelIssues.Select(i => (JsonNode)new JsonObject
            {
                ["path"] = i.Path,
                ["given"] = i.Given,
                ["suggested"] = i.Suggested,
                ["score"] = R(i.Score),
                ["split"] = i.Split,
            })]),
            ["near_duplicates"] = new JsonArray([.. NearDuplicates.Select(d => (JsonNode)new JsonObject
            {
                ["a"] = d.A,
                ["b"] = d.B,
                ["similarity"] = R(d.Similarity),
                ["kind"] = d.Kind,
                ["a_label"] = d.ALabel,
                ["a_split"] = d.ASplit,
                ["b_label"] = d.BLabel,
                ["b_split"] = d.BSplit,
            })]),
            ["outliers"] = new JsonArray([.. Outliers.Select(x => (JsonNode)new JsonObject { ["path"] = x.Path, ["score"] = R(x.Score) })]),
            ["class_counts"] = counts,
            ["class_balance_warning"] = ClassBalanceWarning,
            ["seconds"] = new JsonObject([.. Seconds.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)Math.Round(p.Value, 3)))]),
            ["inputs_hash"] = InputsHash,
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    public void Write(string path) => AtomicFile.WriteAllText(path, ToJson());

    /// <summary>The closing line's counts: "12 suspected label errors, 3 leaks, 1 conflict".</summary>
    public string Counts() => CountsOf(LabelIssues.Count, Leaks, Conflicts);

    /// <summary>The same words for counts read elsewhere (evaluation.json's summary of this file).</summary>
    public static string CountsOf(int suspects, int leaks, int conflicts)
    {
        static string Plural(int n, string what) => string.Create(CultureInfo.InvariantCulture, $"{n} {what}{(n == 1 ? "" : "s")}");
        return $"{Plural(suspects, "suspected label error")}, {Plural(leaks, "leak")}, {Plural(conflicts, "conflict")}";
    }
}
