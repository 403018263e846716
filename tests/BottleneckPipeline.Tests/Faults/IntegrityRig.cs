using System.Text.Json;
using BottleneckPipeline.Evaluate;
using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Faults;

/// <summary>
/// The integrity tests' pipeline, run once for all of them through the built stage executables: "main"
/// (Ingest to Evaluate, model.onnx exported) and "tuned" (fine_tune enabled, its FineTune killed once
/// after its first epoch's checkpoint and then finished), sharing the flowers and the cache. Each
/// workspace's clean files are kept, so a test damages a real file, runs the stage that reads it and
/// restores the workspace afterwards.
/// </summary>
public sealed class IntegrityRig : IDisposable
{
    /// <summary>Three epochs of one view in batches of 4: a few seconds a run; export off (the main rig has it).</summary>
    private const string TunedYaml = """
        evaluate:
          export: false
        fine_tune:
          enabled: true
          epochs: 3
          batch_size: 4
          patience: 0
          augment:
            views: 1
        """;

    public TempDir Dir { get; } = new();
    public FaultRig Main { get; }
    public FaultRig Tuned { get; }

    /// <summary>fine_tune/checkpoint.bin as the killed FineTune left it: a real checkpoint of an unfinished run.</summary>
    public byte[] Checkpoint { get; }

    /// <summary>What the clean files say: the head's weights, the evaluations' figures, the fine-tuned files' bytes.</summary>
    public string MainHead { get; }
    public string MainFigures { get; }
    public string TunedFigures { get; }
    public string TunedHead { get; }
    public byte[] TunedBackbone { get; }
    public byte[] Model { get; }

    public IntegrityRig()
    {
        var data = TestIndex.CopyFlowers(Dir["data"], classes: 3, perClass: 8);
        Main = new FaultRig(Dir["main"], data, Dir["cache"]);
        Main.RunAll();
        Tuned = new FaultRig(Dir["tuned"], data, Dir["cache"], TunedYaml);
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead" }) Tuned.RunOk(stage);
        var killed = StageProcess.RunAndKillWhen("FineTune", _ => File.Exists(CheckpointPath), "--config", Tuned.ConfigPath);
        Assert.True(killed.Killed, "FineTune finished before its checkpoint was seen:\n" + killed.Output);
        Checkpoint = File.ReadAllBytes(CheckpointPath);
        Tuned.RunOk("FineTune");
        Tuned.RunOk("Evaluate");

        MainHead = Weights(Main.HeadPath);
        MainFigures = Figures(Main);
        TunedFigures = Figures(Tuned);
        TunedHead = Weights(TunedHeadPath);
        TunedBackbone = File.ReadAllBytes(TunedBackbonePath);
        Model = File.ReadAllBytes(ModelPath);
        Snapshot(Main);
        Snapshot(Tuned);
    }

    public string ModelPath => Path.Combine(Main.Workspace, "model.onnx");
    public string EvaluationPath(FaultRig rig) => Path.Combine(rig.ReportsDir, "evaluation.json");
    public string TunedDirectory => Path.Combine(Tuned.Workspace, "fine_tune");
    public string CheckpointPath => Path.Combine(TunedDirectory, "checkpoint.bin");
    public string TunedBackbonePath => Path.Combine(TunedDirectory, "backbone.onnx");
    public string TunedHeadPath => Path.Combine(TunedDirectory, "head.msgpack");
    public string ManifestPath => Path.Combine(TunedDirectory, "fine_tuned.json");

    /// <summary>A head file's layer (labels, weights, bias) as text, to compare with the clean one.</summary>
    public static string Weights(string headPath)
    {
        var head = HeadArtifact.Load(headPath);
        return JsonSerializer.Serialize(new { head.LabelNames, head.Weights, head.Bias, head.BackboneFingerprint, head.InputsHash });
    }

    /// <summary>The figures of the rig's evaluation.json (shipped model, accuracies, per class, confusion, mistakes, export check), as text.</summary>
    public static string Figures(FaultRig rig)
    {
        var r = rig.Evaluation();
        return JsonSerializer.Serialize(new
        {
            r.Model,
            r.Accuracy,
            r.TopKAccuracy,
            r.MacroF1,
            r.PerClass,
            r.ConfusionMatrix,
            Mistakes = r.Misclassified.Select(m => JsonSerializer.Serialize(m)),
            Shipped = r.Shipped?.Model,
            Other = r.Comparison?.Accuracy,
            Export = r.Export is { } e ? new { e.Images, e.ArgmaxAgreement, e.Passed } : null,
            r.InputsHash,
        });
    }

    private string SnapshotOf(FaultRig rig) => Dir["snapshot-" + Path.GetFileName(rig.Dir)];

    private void Snapshot(FaultRig rig) => CopyTree(rig.Workspace, SnapshotOf(rig));

    /// <summary>Puts the rig's workspace back as it was after the clean run, every file of it.</summary>
    public void Restore(FaultRig rig)
    {
        Directory.Delete(rig.Workspace, recursive: true);
        CopyTree(SnapshotOf(rig), rig.Workspace);
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
    }

    /// <summary>The bytes with <paramref name="count"/> bytes from <paramref name="at"/> inverted.</summary>
    public static byte[] Flipped(byte[] bytes, int at, int count)
    {
        var copy = (byte[])bytes.Clone();
        for (var i = at; i < at + count; i++) copy[i] ^= 0xFF;
        return copy;
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>The tests that share one <see cref="IntegrityRig"/>; they run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class IntegrityRigCollection : ICollectionFixture<IntegrityRig>
{
    public const string Name = "integrity rig";
}
