using System.Text.Json;
using System.Text.Json.Serialization;
using BottleneckPipeline.Evaluate.Export;
using BottleneckPipeline.Metrics;

namespace BottleneckPipeline.Evaluate;

/// <summary>reports/evaluation.json: the test-split figures and where the head and backbone came from.</summary>
public sealed class EvaluationReport
{
    public required double TestAccuracy { get; init; }
    public required int TestImages { get; init; }
    public required int TopK { get; init; }
    public required double TopKAccuracy { get; init; }
    public required double MacroF1 { get; init; }
    public required ClassMetrics[] PerClass { get; init; }
    public required ConfusionMatrixReport ConfusionMatrix { get; init; }
    public required Misclassification[] Misclassified { get; init; }
    public required BackboneReport Backbone { get; init; }
    public required HeadReport Head { get; init; }
    /// <summary>Filled by the export check; null when export is off.</summary>
    public ExportReport? Export { get; set; }
    /// <summary>The fine-tuned model on the same images, when FineTune's model was used; null: the head alone.</summary>
    public FineTunedReport? FineTuned { get; set; }
    /// <summary>Why a fine-tuned model in the workspace was not used (made from another backbone or head); null otherwise.</summary>
    public string? FineTuneNote { get; set; }
    /// <summary>Hash of everything Evaluate read: equal hash means the report is up to date.</summary>
    public string InputsHash { get; set; } = "";

    public static EvaluationReport Create(ClassificationMetrics metrics, Misclassification[] misclassified, BackboneReport backbone, HeadReport head) => new()
    {
        TestAccuracy = metrics.Accuracy,
        TestImages = metrics.Count,
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

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static EvaluationReport FromJson(string json) =>
        JsonSerializer.Deserialize<EvaluationReport>(json, JsonOptions) ?? throw new JsonException("empty evaluation report");
}

/// <summary>Rows are true classes, columns predicted classes, both in label order.</summary>
public sealed record ConfusionMatrixReport(string[] Labels, int[][] Rows);

public sealed record BackboneReport(string Name, string Fingerprint);

public sealed record HeadReport(string Path, string InputsHash, int BestStep, double ValidationAccuracy);
