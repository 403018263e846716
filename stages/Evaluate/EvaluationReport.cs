using System.Text.Json;
using System.Text.Json.Serialization;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate;

/// <summary>
/// reports/evaluation.json, and the JSON of Evaluate --data: one model's figures on one set of images.
/// In the stage's own report the figures are the shipped model's on the test split, with the
/// choice in <see cref="Shipped"/> and the other model beside it in <see cref="Comparison"/>.
/// Every accuracy carries its count and 95% interval.
/// </summary>
internal sealed class EvaluationReport
{
    /// <summary>What was scored: "test split", or the folder given to --data.</summary>
    public required string Scored { get; init; }
    /// <summary>Which model these figures are: "head only" or "fine-tuned (last-stage)".</summary>
    public required string Model { get; init; }
    public required Accuracy Accuracy { get; init; }
    public required int TopK { get; init; }
    public required Accuracy TopKAccuracy { get; init; }
    public required double MacroF1 { get; init; }
    public required ClassMetrics[] PerClass { get; init; }
    public required ConfusionMatrixReport ConfusionMatrix { get; init; }
    public required Misclassification[] Misclassified { get; init; }
    public required BackboneReport Backbone { get; init; }
    public required HeadReport Head { get; init; }
    /// <summary>Which model ships as model.onnx and why, with both models' validation figures; the stage's report only.</summary>
    public ShippedModel? Shipped { get; set; }
    /// <summary>The model that does not ship, on the same images; null when there is only one.</summary>
    public EvaluationReport? Comparison { get; set; }
    /// <summary>Filled by the export check; null when export is off.</summary>
    public ExportReport? Export { get; set; }
    /// <summary>What the pipeline's own figures say is wrong with this model (e.g. no better than always answering the largest class).</summary>
    public string[] Warnings { get; set; } = [];
    /// <summary>Why a fine-tuned network in the workspace was not considered; null otherwise.</summary>
    public string? FineTuneNote { get; set; }
    /// <summary>The temperature the shipped model's logits are divided by (fitted on the validation split); null outside the stage's report.</summary>
    public double? Temperature { get; set; }
    /// <summary>Expected calibration error (15 bins) on the test split at temperature 1, and at <see cref="Temperature"/>.</summary>
    public double? EceBefore { get; set; }
    public double? EceAfter { get; set; }
    /// <summary>The reliability bins behind the two figures, for the diagram.</summary>
    public CalibrationReport? Reliability { get; set; }
    /// <summary>The shipped model's unknown rule and its threshold; null outside the stage's report.</summary>
    public UnknownReport? Unknown { get; set; }
    /// <summary>--data only: the share of the scored images the model called unknown; null when it carries no unknown rule.</summary>
    public double? UnknownShare { get; set; }
    /// <summary>--data only: how many of the scored images the workspace's index holds, by split, and the figure on the others alone.</summary>
    public DataOverlap? Overlap { get; set; }
    /// <summary>What the data doctor (the Audit stage's reports/dataset_issues.json) found; null when there was no such file.</summary>
    public DatasetIssuesSummary? DatasetIssues { get; set; }
    /// <summary>The accuracy on the test images without those that have a near-copy in the train split (leaks into test), with
    /// its count and interval; null when no leak reaches the test split.</summary>
    public Accuracy? AccuracyWithoutLeaks { get; set; }
    /// <summary>Hash of everything Evaluate read: equal hash means the report is up to date.</summary>
    public string InputsHash { get; set; } = "";

    public int Images => Accuracy.Images;

    public static EvaluationReport Create(string scored, string model, ClassificationMetrics metrics, Misclassification[] misclassified,
        BackboneReport backbone, HeadReport head) => new()
        {
            Scored = scored,
            Model = model,
            Accuracy = metrics.Accuracy,
            TopK = metrics.TopK,
            TopKAccuracy = metrics.TopKAccuracy,
            MacroF1 = metrics.MacroF1,
            PerClass = metrics.PerClass,
            ConfusionMatrix = new ConfusionMatrixReport(metrics.LabelNames, metrics.ConfusionMatrix),
            Misclassified = misclassified,
            Backbone = backbone,
            Head = head,
        };

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The report's JSON, its checksum as the last member (<see cref="JsonChecksum"/>).</summary>
    public string ToJson() => JsonChecksum.Add(JsonSerializer.Serialize(this, JsonOptions));

    /// <summary>The report in a JSON text, unchecked (a checksum member is ignored).</summary>
    public static EvaluationReport FromJson(string json) =>
        JsonSerializer.Deserialize<EvaluationReport>(json, JsonOptions) ?? throw new JsonException("empty evaluation report");

    /// <summary>Evaluate runs again when its report fails its checksum.</summary>
    public const string Advice = "run make evaluate: Evaluate evaluates again when its report fails its checksum";

    /// <summary>The report in a file, checked against its checksum; a <see cref="DamagedArtifactException"/> when it does not vouch for it.</summary>
    public static EvaluationReport Read(string path)
    {
        var text = JsonChecksum.ReadVerified(path, Advice);
        try { return FromJson(text); }
        catch (JsonException e) { throw new DamagedArtifactException(path, ArtifactFault.OtherFormat, Advice, e); }
    }
}

/// <summary>Rows are true classes, columns predicted classes, both in label order.</summary>
internal sealed record ConfusionMatrixReport(string[] Labels, int[][] Rows);

internal sealed record BackboneReport(string Name, string Fingerprint);

/// <param name="BestStep">the training step (TrainHead) or epoch (FineTune) whose weights were kept.</param>
internal sealed record HeadReport(string Path, string InputsHash, int BestStep, double ValidationAccuracy);

/// <summary>Evaluate --data: the scored images the workspace's index also holds, by split (matched by content),
/// and the accuracy on the images it has never seen, which is the figure that generalizes.</summary>
internal sealed record DataOverlap(int Train, int Validation, int Test, Accuracy Unseen, string Index);
