using System.Text.Json;
using System.Text.Json.Serialization;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Config;
using BottleneckPipeline.Runtime;
using MessagePack;

namespace BottleneckPipeline.Head;

/// <summary>
/// The trained head as written to disk (MessagePack): the layer itself, what it was trained on
/// (backbone fingerprint, dimension, inputs hash) and how (config, final metrics).
/// </summary>
[MessagePackObject]
public sealed class HeadArtifact
{
    public const int CurrentFormat = 1;

    [Key(0)] public int Format { get; set; } = CurrentFormat;
    [Key(1)] public string[] LabelNames { get; set; } = [];
    [Key(2)] public int Dimension { get; set; }
    /// <summary>Row-major [classes x dimension].</summary>
    [Key(3)] public float[] Weights { get; set; } = [];
    [Key(4)] public float[] Bias { get; set; } = [];
    [Key(5)] public string BackboneName { get; set; } = "";
    [Key(6)] public string BackboneFingerprint { get; set; } = "";
    /// <summary>The train_head section as JSON, snake_case keys as in pipeline.yaml.</summary>
    [Key(7)] public string TrainingConfigJson { get; set; } = "";
    [Key(8)] public HeadMetrics Metrics { get; set; } = new();
    /// <summary>Hash of everything training read; equal hash means the head is up to date.</summary>
    [Key(9)] public string InputsHash { get; set; } = "";

    [IgnoreMember] public SoftmaxHead Head => new(Weights, Bias, LabelNames, Dimension);

    /// <summary>Where TrainHead writes the head and every later stage reads it.</summary>

    public static string ConfigJson(object config) => JsonSerializer.Serialize(config, config.GetType(), JsonOptions);

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public void Save(string path) => AtomicFile.WriteAllBytes(path, MessagePackSerializer.Serialize(this));

    /// <summary>Reads a head written by <see cref="Save"/>; unreadable files are a user error with a fix.</summary>
    public static HeadArtifact Load(string path)
    {
        if (!File.Exists(path)) throw new InputException($"no trained head at {path}: run TrainHead first.");
        HeadArtifact artifact;
        try
        {
            artifact = MessagePackSerializer.Deserialize<HeadArtifact>(File.ReadAllBytes(path));
        }
        catch (MessagePackSerializationException e)
        {
            throw new InputException($"the head file {path} is unreadable ({e.Message}): re-run TrainHead.", e);
        }
        if (artifact.Format != CurrentFormat)
            throw new InputException($"the head file {path} has format {artifact.Format}, this version reads {CurrentFormat}: re-run TrainHead.");
        return artifact;
    }

    /// <summary>Loads a head and refuses it unless it was trained on vectors from the given backbone.</summary>
    public static HeadArtifact Load(string path, string expectedBackboneFingerprint)
    {
        var artifact = Load(path);
        artifact.EnsureBackbone(expectedBackboneFingerprint, path);
        return artifact;
    }

    public void EnsureBackbone(string expectedBackboneFingerprint, string path)
    {
        if (BackboneFingerprint != expectedBackboneFingerprint)
            throw new InputException(
                $"the head {path} was trained on backbone {BackboneName} with fingerprint {BackboneFingerprint}, " +
                $"but the current cache/backbone has fingerprint {expectedBackboneFingerprint}: re-run TrainHead to train a head for this backbone.");
    }
}

[MessagePackObject]
public sealed class HeadMetrics
{
    [Key(0)] public double TrainLoss { get; set; } = double.NaN;
    [Key(1)] public double TrainAccuracy { get; set; } = double.NaN;
    [Key(2)] public double ValidationLoss { get; set; } = double.NaN;
    [Key(3)] public double ValidationAccuracy { get; set; } = double.NaN;
    [Key(4)] public int BestStep { get; set; }
    [Key(5)] public int StepsRun { get; set; }
    [Key(6)] public int StepsPlanned { get; set; }
    [Key(7)] public bool StoppedEarly { get; set; }
}
