using System.Text.Json.Serialization;
using BottleneckPipeline.Confidence;
using BottleneckPipeline.Config;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.Evaluate;

/// <summary>How one score separates the out-of-distribution folder from the test split: the keys Evaluate --ood reports.</summary>
/// <param name="FlaggedShare">the share of the folder's images past the threshold; for the shipped score, the model's own
/// threshold (set on validation); for a baseline, the one that keeps 95% of the test split.</param>
internal sealed record OodFigures(string Score, double Auroc, double FlaggedShare, [property: JsonPropertyName("fpr_at_95_tpr")] double FprAt95Tpr);

/// <summary>evaluate --ood's report: the shipped model's unknown rule on photos known to be of no class.</summary>
/// <param name="KeptShareTest">the share of test photos (all in class) the rule keeps.</param>
/// <param name="Baseline">the same figures for the maximum softmax probability, the simple score beside it.</param>
internal sealed record OodReport(string Scored, string Model, int Images, int InClassImages, double Threshold, double Auroc, double FlaggedShare,
    [property: JsonPropertyName("fpr_at_95_tpr")] double FprAt95Tpr, double KeptShareTest, OodFigures Baseline, IReadOnlyList<string> Skipped)
{
    public string ToJson() => System.Text.Json.JsonSerializer.Serialize(this, EvaluationReport.JsonOptions);
}

/// <summary>
/// `Evaluate --ood DIR --out F.json`: scores a folder of photos known to be of none of the classes (every image file under
/// it) with model.onnx's unknown rule, against the workspace's test split as the in-class reference, both through the model
/// file itself. AUROC and FPR at 95% TPR say how well the score separates them; the flagged share is what the shipped
/// threshold calls unknown. The maximum softmax probability's figures stand beside them.
/// </summary>
internal static class OodScoring
{
    public static OodReport Run(ExportedModel model, PipelineConfig config, string oodDir, string outJson, CancellationToken ct = default)
    {
        if (!model.HasUnknownRule)
            throw new InputException($"{model.Path} carries no unknown rule (it was exported before the rule existed): run make evaluate to export it again.");
        if (!Directory.Exists(oodDir)) throw new InputException($"--ood {oodDir} is not a folder of images.");
        var threshold = UnknownScoreGraph.ReadMetadata(Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(model.Path))).Threshold;
        var ood = model.Classify(Prediction.ExpandInputs([oodDir]), config.Dataset.MaxPixels, ct);
        var test = model.Classify(TestImages(config), config.Dataset.MaxPixels, ct);
        var (oodScores, testScores) = (Scores(ood), Scores(test));
        if (oodScores.Count == 0) throw new InputException($"--ood {oodDir} holds no image that could be classified ({ood.Count} file(s) skipped).");
        if (testScores.Count == 0) throw new InputException($"the test split of {config.IndexPath} holds no image to compare with: run make first.");
        var (oodMsp, testMsp) = (Msp(ood), Msp(test));
        var report = new OodReport(Path.GetFullPath(oodDir), model.Metadata.Backbone, oodScores.Count, testScores.Count, threshold,
            OodMetrics.Auroc(testScores, oodScores), OodMetrics.FlaggedShare(oodScores, threshold), OodMetrics.FprAt95Tpr(testScores, oodScores),
            1 - OodMetrics.FlaggedShare(testScores, threshold),
            new OodFigures("maximum softmax probability", OodMetrics.Auroc(testMsp, oodMsp),
                OodMetrics.FlaggedShare(oodMsp, OodMetrics.Threshold(testMsp)), OodMetrics.FprAt95Tpr(testMsp, oodMsp)),
            [.. ood.Where(c => c.Answer is null).Select(c => $"{c.Path}: {c.Skipped}")]);
        AtomicFile.WriteAllText(outJson, report.ToJson());
        return report;
    }

    private static List<double> Scores(IReadOnlyList<ClassifiedImage> images) =>
        [.. images.Where(c => c.Answer is not null).Select(c => c.Answer!.UnknownScore!.Value)];

    /// <summary>1 - the largest probability: higher means less sure of any class, as for the unknown score.</summary>
    private static List<double> Msp(IReadOnlyList<ClassifiedImage> images) =>
        [.. images.Where(c => c.Answer is not null).Select(c => 1.0 - c.Answer!.Probabilities.Max())];

    /// <summary>The test split's files, from the workspace's index opened read-only.</summary>
    private static List<string> TestImages(PipelineConfig config)
    {
        if (!File.Exists(config.IndexPath)) throw new InputException($"no index at {config.IndexPath}: --ood compares with the test split; run make first.");
        using var db = IndexDb.OpenReadOnly(config.IndexPath);
        using var cmd = db.Connection.CreateCommand();
        cmd.CommandText = "SELECT rel_path FROM examples WHERE split = 'test' AND conflict = 0 ORDER BY rel_path";
        using var reader = cmd.ExecuteReader();
        var files = new List<string>();
        while (reader.Read()) files.Add(Path.Join(config.Dataset.Root, reader.GetString(0)));
        return files;
    }
}
