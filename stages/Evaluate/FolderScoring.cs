using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Index;
using BottleneckPipeline.Metrics;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

/// <summary>What --data scored, and what it skipped with the reason.</summary>
internal sealed record FolderScore(EvaluationReport Report, IReadOnlyList<string> Skipped);

/// <summary>
/// `Evaluate --data DIR --out FILE.json`: scores a labelled folder (class subfolders named like the
/// model's labels) with the shipped model.onnx itself, so the figure is what that file answers.
/// It writes only the JSON and its page beside it (scored.json, scored.html): the workspace may be
/// read-only. With a workspace, images its index already holds (by content) are counted by split,
/// and the accuracy on the images it has never seen is reported on its own.
/// </summary>
internal static class FolderScoring
{
    /// <param name="config">the workspace's config, for the overlap with its index and the page's provenance; null with --model alone.</param>
    public static FolderScore Run(ExportedModel model, string dataDir, string outJson, int topK, long maxPixels, PipelineConfig? config,
        CancellationToken ct = default)
    {
        if (string.Equals(Path.GetExtension(outJson), ".html", StringComparison.OrdinalIgnoreCase))
            throw new ConfigException($"--out {outJson}: name the JSON report (like scored.json); its page is written beside it as .html.");
        var outPage = EvaluationPage.PathBeside(outJson);
        EvaluationPage.EnsureOursOrAbsent(outPage);
        dataDir = Path.GetFullPath(dataDir);
        if (!Directory.Exists(dataDir)) throw new InputException($"--data {dataDir} is not a folder. It must hold class subfolders of images.");
        var labels = model.Metadata.Labels;
        var scan = DatasetScanner.Scan(dataDir);
        LabelCheck.EnsureKnown(scan.Files.Select(f => f.Class), labels, dataDir, model.Path);
        var classified = model.Classify([.. scan.Files.Select(f => Path.Join(dataDir, f.RelPath))], maxPixels, ct);

        var labelIds = labels.Select((name, i) => (name, i)).ToDictionary(x => x.name, x => x.i, StringComparer.Ordinal);
        var (truth, probabilities, ids, paths) = (new List<int>(), new List<float[]>(), new List<string>(), new List<string>());
        var skipped = new List<string>(scan.Rejects.Select(r => $"{r.RelPath}: {r.Reason}"));
        for (var i = 0; i < classified.Count; i++)
        {
            if (classified[i].Probabilities is not { } p) { skipped.Add($"{scan.Files[i].RelPath}: {classified[i].Skipped}"); continue; }
            truth.Add(labelIds[scan.Files[i].Class]);
            probabilities.Add(p);
            ids.Add(classified[i].ContentId!);
            paths.Add(scan.Files[i].RelPath);
        }
        if (truth.Count == 0)
            throw new InputException($"{dataDir} holds no image that could be classified ({skipped.Count} skipped). It must hold class subfolders of images.");

        var metrics = ClassificationMetrics.Compute(truth, probabilities, labels, Math.Min(topK, labels.Length));
        var report = EvaluationReport.Create(dataDir, $"{model.Metadata.Backbone} ({Path.GetFileName(model.Path)})", metrics,
            Misclassification.List(paths, truth, probabilities, labels, metrics.TopK),
            new BackboneReport(model.Metadata.Backbone, model.Metadata.BackboneFingerprint),
            new HeadReport(model.Path, model.Metadata.HeadInputsHash, 0, double.NaN));
        report.Overlap = config is null ? null : Overlap(config, ids, truth, probabilities);
        if (model.HasUnknownRule)
            report.UnknownShare = (double)classified.Count(c => c.Answer is { Unknown: true }) / classified.Count(c => c.Answer is not null);
        var dataset = new DatasetIdentity(dataDir, "content hash", ContentHash(ids));
        var provenance = config is null
            ? new RunProvenance(dataset, "(none: --model)", [], DateTimeOffset.UtcNow)
            : RunProvenance.For(config, dataset, DateTimeOffset.UtcNow);
        EvaluationPage.Write(outPage, report, new PageSources(dataDir, dataDir, maxPixels, null, "(a scored folder has no learning curve)", provenance));
        AtomicFile.WriteAllText(outJson, report.ToJson());
        return new FolderScore(report, skipped);
    }

    /// <summary>
    /// The scored images the workspace's index holds, by split, matched by content so a renamed copy
    /// counts; and the accuracy on the rest. The index is opened read-only (immutable where no writer
    /// left a log), so a read-only workspace serves; without an index there is nothing to match.
    /// </summary>
    private static DataOverlap? Overlap(PipelineConfig config, List<string> ids, List<int> truth, List<float[]> probabilities)
    {
        if (!File.Exists(config.IndexPath)) return null;
        var splits = new Dictionary<string, string>(StringComparer.Ordinal);
        using (var db = IndexDb.OpenReadOnly(config.IndexPath))
        using (var cmd = db.Connection.CreateCommand())
        {
            cmd.CommandText = "SELECT content_id, split FROM examples";
            using var reader = cmd.ExecuteReader();
            while (reader.Read()) splits[reader.GetString(0)] = reader.GetString(1);
        }
        int train = 0, validation = 0, test = 0, unseen = 0, unseenCorrect = 0;
        for (var i = 0; i < ids.Count; i++)
        {
            switch (splits.GetValueOrDefault(ids[i]))
            {
                case "train": train++; break;
                case "validation": validation++; break;
                case "test": test++; break;
                default:
                    unseen++;
                    if (ClassificationMetrics.ArgMax(probabilities[i]) == truth[i]) unseenCorrect++;
                    break;
            }
        }
        return new DataOverlap(train, validation, test, Accuracy.Of(unseenCorrect, unseen), config.IndexPath);
    }

    /// <summary>A hash of which images were scored (their sorted content ids), whatever their names or order.</summary>
    private static string ContentHash(IEnumerable<string> contentIds) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(
            string.Join('\n', contentIds.Order(StringComparer.Ordinal)))))[..16];
}
