using System.Diagnostics;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;

namespace BottleneckPipeline.Audit;

/// <summary>What the audit did and how long each part took (the bench reads the parts).</summary>
/// <param name="Evidence">every row's evidence against its label; null when up to date.</param>
/// <param name="OutOfFold">the out-of-fold head probabilities, row-major; null when up to date.</param>
internal sealed record AuditOutcome(bool UpToDate, DatasetIssues Issues, string Summary, AuditSet? Set = null, LabelEvidence? Evidence = null,
    float[]? OutOfFold = null, IReadOnlyDictionary<string, double>? Seconds = null);

/// <summary>
/// The Audit stage, the data doctor: from the index, the cached vectors and the train_head settings, it writes
/// reports/dataset_issues.json with suspected label errors, near-duplicates (leaks between splits, conflicts between
/// labels), outliers and the class counts, leaving out the images dataset.exclude names. Up to date (and instant) when
/// neither Extract's inputs (the index, its splits, the backbone), the train_head section nor the excluded images changed.
/// </summary>
internal static class AuditStage
{
    /// <summary>The config sections whose hash the runs table records.</summary>
    public static readonly string[] Sections = ["train_head"];

    /// <summary>Changed whenever the method changes what it finds, so that an old report is redone.</summary>
    public const string Method = DatasetIssues.Method;

    public static readonly string[] SplitNames = ["train", "validation", "test"];

    /// <summary>Images whose layout-check views are sampled once and kept (about 300 MB at most).</summary>
    private const int MaxSampledViews = 8000;

    /// <param name="excludeHash">the hash of the images dataset.exclude leaves out (<see cref="ExcludedImages.Hash"/>), "" when none.</param>
    public static string InputsHash(PipelineConfig config, ExtractSummary extract, string excludeHash = "") =>
        DatasetIssues.InputsHashFor(config, extract, excludeHash);

    public static AuditOutcome Run(PipelineConfig config, IndexDb db, CancellationToken ct = default)
    {
        var extract = ExtractReport.Read(config);
        var vectors = new SplitVectors(config, db, extract.Fingerprint);
        var hash = InputsHash(config, extract, vectors.Excluded.Hash);
        var path = ArtifactPaths.DatasetIssues(config);
        if (DatasetIssues.TryRead(path) is { } previous && previous.InputsHash == hash)
            return new AuditOutcome(true, previous, $"Audit: up to date; {previous.Counts()} ({path})");

        var sets = vectors.Load(SplitNames);
        var set = Combine(sets);
        var root = config.Dataset.Root;
        var outcome = Analyze(set, config.TrainHead, rel => Path.Join(root, rel), config.CacheDir, config.Dataset.MaxPixels, Environment.ProcessorCount, ct);
        var issues = outcome.Issues with { InputsHash = hash };
        ct.ThrowIfCancellationRequested();
        issues.Write(path);
        var summary = $"Audit: {set.All.Count} images: {issues.Counts()}, {issues.NearDuplicates.Count} near-duplicate pairs, " +
                      $"{issues.Outliers.Count} outliers; {path}";
        return outcome with { Issues = issues, Summary = summary };
    }

    /// <summary>The splits' rows as one set (in the given order), each row with its split's name.</summary>
    public static AuditSet Combine(IReadOnlyList<LabelledVectors> sets)
    {
        var count = sets.Sum(s => s.Count);
        var dimension = sets.FirstOrDefault(s => s.Count > 0)?.Dimension ?? 1;
        var half = sets.Any(s => s.Vectors.IsHalf);
        var m = new VectorMatrix(count, dimension, half);
        var row = new float[dimension];
        var at = 0;
        foreach (var s in sets)
            for (var i = 0; i < s.Count; i++)
            {
                s.Vectors.CopyRow(i, row);
                m.Set(at++, row);
            }
        var names = sets.Count > 0 ? sets[0].LabelNames : [];
        var all = new LabelledVectors(m, [.. sets.SelectMany(s => s.Labels)], names,
            [.. sets.SelectMany(s => s.ContentIds)], [.. sets.SelectMany(s => s.RelativePaths)]);
        return new AuditSet(all, [.. sets.SelectMany((s, k) => Enumerable.Repeat(SplitNames[k], s.Count))]);
    }

    /// <summary>The whole analysis of a set; writes nothing but the thumbnails beside the cache.</summary>
    /// <param name="imagePath">a row's relative path to its file, for the layout check; null: near-duplicates are not verified (none reported).</param>
    public static AuditOutcome Analyze(AuditSet set, TrainHeadConfig head, Func<string, string>? imagePath, string cacheDir, long maxPixels, int maxParallel,
        CancellationToken ct = default, bool? exactNeighbours = null)
    {
        var all = set.All;
        var seconds = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        void Lap(string part)
        {
            seconds[part] = clock.Elapsed.TotalSeconds;
            clock.Restart();
        }

        var (counts, warning) = Doctor.ClassBalance(set, SplitNames);
        if (all.Count < 2)
            return new AuditOutcome(false, new DatasetIssues { ClassCounts = counts, ClassBalanceWarning = warning }, "Audit: fewer than two images", set,
                Seconds: seconds);

        var outOfFold = all.ClassCount > 1
            ? OutOfFold.Probabilities(all, head, OutOfFold.DefaultFolds, maxParallel, ct)
            : [.. Enumerable.Repeat(1f, all.Count)];
        Lap("out_of_fold");
        var graph = Neighbours.Find(all.Vectors, Doctor.Neighbours, maxParallel, head.Seed, exactNeighbours, ct);
        Lap("neighbours");
        var evidence = Doctor.Labels(all, outOfFold, graph);
        var suspects = Doctor.Suspects(set, evidence);
        var outliers = Doctor.Outliers(set, Doctor.OutlierScores(graph));
        Lap("labels_outliers");

        var candidates = Doctor.Candidates(all, graph);
        var duplicates = new List<NearDuplicate>();
        if (imagePath is not null && candidates.Count > 0)
        {
            var rows = candidates.SelectMany(c => new[] { c.A, c.B }).Distinct().ToList();
            var (thumbs, _) = Thumbnails.For(cacheDir, [.. rows.Select(r => (all.ContentIds[r], imagePath(all.RelativePaths[r])))], maxPixels, maxParallel, ct);
            Lap("thumbnails");
            var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxParallel), CancellationToken = ct };
            // Each image's windows sampled once (38 KB an image), up to a bound; past it, sampled again for every pair.
            var views = new Dictionary<string, float[]>(StringComparer.Ordinal);
            if (thumbs.Count <= MaxSampledViews)
            {
                var ids = thumbs.Keys.ToArray();
                var sampled = new float[ids.Length][];
                Parallel.For(0, ids.Length, options, k => sampled[k] = LayoutCheck.Views(thumbs[ids[k]]));
                for (var k = 0; k < ids.Length; k++) views[ids[k]] = sampled[k];
            }
            float[] ViewsOf(string id, byte[] thumb) => views.TryGetValue(id, out var v) ? v : LayoutCheck.Views(thumb);
            var sameness = new double?[candidates.Count];
            Parallel.For(0, candidates.Count, options, k =>
            {
                var (a, b, _) = candidates[k];
                var (ia, ib) = (all.ContentIds[a], all.ContentIds[b]);
                if (thumbs.TryGetValue(ia, out var ta) && thumbs.TryGetValue(ib, out var tb))
                    sameness[k] = LayoutCheck.Score(ta, ViewsOf(ia, ta), tb, ViewsOf(ib, tb));
            });
            var byPair = candidates.Select((c, k) => ((c.A, c.B), sameness[k])).ToDictionary(p => p.Item1, p => p.Item2);
            duplicates = Doctor.NearDuplicates(set, candidates, (a, b) => byPair[(a, b)]);
            Lap("layout_check");
        }

        var issues = new DatasetIssues
        {
            LabelIssues = suspects,
            NearDuplicates = duplicates,
            Outliers = outliers,
            ClassCounts = counts,
            ClassBalanceWarning = warning,
            Seconds = seconds,
        };
        return new AuditOutcome(false, issues, $"Audit: {issues.Counts()}", set, evidence, outOfFold, seconds);
    }
}
