using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.Cache;

/// <summary>
/// What dataset.exclude leaves out, resolved against the index: the content ids that <see cref="SplitVectors"/> (and so
/// TrainHead, Audit and Evaluate) and FineTune's examples skip, how many examples of each split that is, and a warning
/// for each line that names no indexed image. The stages that read the splits take <see cref="HashLine"/> into their
/// inputs hashes; Ingest and Extract do not (the key is out of the dataset section's hash), so a new list re-runs what
/// trains or scores and re-extracts nothing: the vectors are keyed by content, and the excluded ones stay in the cache.
/// </summary>
/// <param name="File">the list's absolute path; null when dataset.exclude is unset.</param>
/// <param name="BySplit">excluded examples (rows of the index) per split: train, validation, test.</param>
/// <param name="Warnings">one per line naming no image in the index, with the file and line.</param>
public sealed record ExcludedImages(string? File, IReadOnlySet<string> ContentIds, IReadOnlyDictionary<string, int> BySplit, IReadOnlyList<string> Warnings)
{
    public static readonly ExcludedImages None = new(null, new HashSet<string>(), new Dictionary<string, int>(), []);

    /// <summary>The config's list against this index; <see cref="None"/> when dataset.exclude is unset.</summary>
    public static ExcludedImages Of(PipelineConfig config, IndexDb db) =>
        config.Dataset.Exclude is { } file ? Of(file, ExcludeList.Read(file), db, config.Dataset.Root) : None;

    public static ExcludedImages Of(string file, ExcludeList list, IndexDb db, string datasetRoot)
    {
        var (ids, unknown) = list.Resolve(db);
        var warnings = unknown.Select(entry => IsId(list, entry)
            ? $"{file}:{list.LineOf(entry)}: no image in the index has the content id {entry}; nothing is left out for this line"
            : $"{file}:{list.LineOf(entry)}: no image in the index has the path '{entry}' (relative to dataset.root, {datasetRoot}); " +
              "nothing is left out for this line. Check its spelling, or whether the photo was moved or deleted").ToList();
        var bySplit = new Dictionary<string, int>(StringComparer.Ordinal) { ["train"] = 0, ["validation"] = 0, ["test"] = 0 };
        if (ids.Count > 0)
        {
            using var cmd = db.Command("SELECT content_id, split FROM examples;");
            using var r = cmd.ExecuteReader();
            while (r.Read())
                if (ids.Contains(r.GetString(0))) bySplit[r.GetString(1)] = bySplit.GetValueOrDefault(r.GetString(1)) + 1;
        }
        return new ExcludedImages(file, ids, bySplit, warnings);
    }

    private static bool IsId(ExcludeList list, string entry) => list.ContentIds.Contains(entry);

    /// <summary>A hash of the excluded contents, whatever named them (a path or the id, in any order, with any comments): "" when none.</summary>
    public string Hash => ContentIds.Count == 0 ? "" : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        string.Join('\n', ContentIds.Order(StringComparer.Ordinal)))))[..16];

    /// <summary>What a stage adds to its upstream hash: nothing when nothing is left out, so a config without the key
    /// (or with a list that names no indexed image) keeps every hash, and every result, it had.</summary>
    public string HashLine => ContentIds.Count == 0 ? "" : "\nexclude=" + Hash;

    /// <summary>Excluded examples in all splits.</summary>
    public int Examples => BySplit.Values.Sum();

    /// <summary>"dataset.exclude (FILE): 3 images left out (2 train, 0 validation, 1 test)"; null when the key is unset.</summary>
    public string? Summary => File is null ? null : string.Create(CultureInfo.InvariantCulture,
        $"dataset.exclude ({File}): {Examples} image{(Examples == 1 ? "" : "s")} left out of training and scoring " +
        $"({BySplit.GetValueOrDefault("train")} train, {BySplit.GetValueOrDefault("validation")} validation, {BySplit.GetValueOrDefault("test")} test)");
}
