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

    /// <summary>Writes the head atomically, its checksum after it (<see cref="ChecksumTrailer"/>); returns the file's SHA-256,
    /// which a manifest that names the file records.</summary>
    public string Save(string path) => ChecksumTrailer.WriteAllBytes(path, MessagePackSerializer.Serialize(this));

    /// <summary>What to do about a head that fails its checksum: TrainHead retrains it.</summary>
    public const string RetrainAdvice = "run make train-head (or make): TrainHead retrains a head that fails its checksum";

    /// <summary>TrainHead's head: <see cref="Read"/> with <see cref="RetrainAdvice"/>.</summary>
    public static HeadArtifact Load(string path) => Read(path, RetrainAdvice);

    /// <summary>Reads a head written by <see cref="Save"/>, checked against its checksum; a damaged, old or unreadable
    /// file is a <see cref="DamagedArtifactException"/> naming <paramref name="advice"/> (exit 3; the stage that
    /// rebuilds the head catches it and does).</summary>
    public static HeadArtifact Read(string path, string advice)
    {
        if (!File.Exists(path)) throw new InputException($"no trained head at {path}: run TrainHead first.");
        var payload = ChecksumTrailer.ReadAllBytes(path, advice);
        HeadArtifact artifact;
        try
        {
            artifact = MessagePackSerializer.Deserialize<HeadArtifact>(payload);
        }
        catch (MessagePackSerializationException e)
        {
            throw new DamagedArtifactException(path, ArtifactFault.OtherFormat, advice, e);
        }
        if (artifact.Format != CurrentFormat) throw new DamagedArtifactException(path, ArtifactFault.OtherFormat, advice);
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
