using System.Text.Json.Nodes;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.Training;
using Onnx;
using Xunit.Abstractions;

namespace BottleneckPipeline.Tests.FineTune;

/// <summary>
/// The FineTune stage through its built executable on a few real flowers, ResNet-18's last stage:
/// kill -9 mid-epoch then a rerun gives bitwise the weights of an uninterrupted run; Ctrl+C exits
/// 130 keeping the epoch checkpoint; the frozen weights of the written backbone are the original's
/// bytes; a rerun is up to date; a disabled `--when-enabled` run writes nothing; clean removes it all.
/// </summary>
[Trait("Category", "Faults")]
public class FineTuneRunTests(ITestOutputHelper output)
{
    // Three epochs of 2-image views in batches of 4: a few seconds of training per run. The default
    // l2_sp is on, so the resumed run must also pull toward the weights the run started from.
    private const string FineTuneYaml = """
        evaluate:
          export: false
        fine_tune:
          epochs: 3
          batch_size: 4
          patience: 0
          augment:
            views: 2
        """;

    private static string Checkpoint(FaultRig rig) => Path.Combine(rig.Workspace, "fine_tune", "checkpoint.bin");
    private static string Backbone(FaultRig rig) => Path.Combine(rig.Workspace, "fine_tune", "backbone.onnx");
    private static string Manifest(FaultRig rig) => Path.Combine(rig.Workspace, "fine_tune", "fine_tuned.json");
    private static HeadArtifact TunedHead(FaultRig rig) => HeadArtifact.Load(Path.Combine(rig.Workspace, "fine_tune", "head.msgpack"));

    private static void Prepare(FaultRig rig)
    {
        foreach (var stage in new[] { "Ingest", "Extract", "TrainHead" }) rig.RunOk(stage);
    }

    [Fact]
    public void Killed_mid_epoch_then_rerun_gives_bitwise_the_uninterrupted_weights_and_frozen_weights_stay_the_originals()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 5, perClass: 6);
        var reference = new FaultRig(t["reference"], data, extraYaml: FineTuneYaml);
        Prepare(reference);
        var first = reference.RunOk("FineTune");
        output.WriteLine(first.Output);
        Assert.True(File.Exists(Manifest(reference)));
        Assert.False(File.Exists(Checkpoint(reference)), "the checkpoint outlived the finished run");

        // Killed as soon as the first epoch's checkpoint exists: in the middle of the second epoch.
        var killed = new FaultRig(t["killed"], data, extraYaml: FineTuneYaml);
        Prepare(killed);
        var kill = StageProcess.RunAndKillWhen("FineTune", _ => File.Exists(Checkpoint(killed)), "--config", killed.ConfigPath);
        Assert.True(kill.Killed, "FineTune finished before the kill:\n" + kill.Output);
        Assert.False(File.Exists(Manifest(killed)), "a killed run left a manifest");
        var resumed = killed.RunOk("FineTune");
        output.WriteLine(resumed.Output);
        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(killed.ReportsDir, "fine_tune.json")))!;
        Assert.True(report["resumed_after_epoch"]!.GetValue<int>() >= 1, "the rerun did not resume from the checkpoint");
        Assert.Equal(0, report["prefix_computed"]!.GetValue<int>()); // every view was cached before the kill

        Assert.True(File.ReadAllBytes(Backbone(reference)).AsSpan().SequenceEqual(File.ReadAllBytes(Backbone(killed))), "fine-tuned backbones differ");
        var (a, b) = (TunedHead(reference), TunedHead(killed));
        Assert.True(a.Weights.AsSpan().SequenceEqual(b.Weights) && a.Bias.AsSpan().SequenceEqual(b.Bias), "fine-tuned heads differ");
        Assert.NotEqual(reference.Head().Weights, a.Weights); // it did train the head on

        // The written backbone is the original with only the last stage's weights changed.
        var original = ModelProto.Parser.ParseFrom(File.ReadAllBytes(BackboneFactory.EmbeddedResNet18Path));
        var tuned = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Backbone(reference)));
        Assert.Equal(original.Graph.Node, tuned.Graph.Node);
        Assert.Equal(original.Graph.Input, tuned.Graph.Input);
        Assert.Equal(original.Graph.Output, tuned.Graph.Output);
        var tunedByName = tuned.Graph.Initializer.ToDictionary(i => i.Name);
        Assert.Equal(original.Graph.Initializer.Select(i => i.Name), tuned.Graph.Initializer.Select(i => i.Name));
        // Protobuf equality: same name, type, dims and bytes. Only trainable weights may differ.
        var changed = original.Graph.Initializer.Where(i => !i.Equals(tunedByName[i.Name])).Select(i => i.Name).ToList();
        var stages = BackboneStages.Find(original, "Input247", [1, 3, 224, 224], "Pooling395_Output_0");
        var trainable = stages.Region(TrainableDepth.LastStage).Trainable;
        Assert.Empty(changed.Except(trainable));
        Assert.Contains(trainable, name => !Values(original.Graph.Initializer.Single(i => i.Name == name)).AsSpan().SequenceEqual(Values(tunedByName[name])));
        var manifest = JsonNode.Parse(File.ReadAllText(Manifest(reference)))!;
        Assert.NotEqual(manifest["base_backbone_fingerprint"]!.GetValue<string>(), manifest["backbone_fingerprint"]!.GetValue<string>());
        Assert.Equal(manifest["backbone_fingerprint"]!.GetValue<string>(), a.BackboneFingerprint);

        // Nothing changed: up to date at once.
        var again = reference.RunOk("FineTune");
        Assert.Contains("FineTune: up to date", again.StdOut);
    }

    [Fact]
    public void Ctrl_C_exits_130_keeping_the_epoch_checkpoint_a_disabled_run_writes_nothing_and_clean_removes_it_all()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 5, perClass: 6);
        var rig = new FaultRig(t["rig"], data, extraYaml: FineTuneYaml);
        Prepare(rig);

        // fine_tune.enabled is false: plain make's call does nothing.
        var off = StageProcess.Run("FineTune", "--config", rig.ConfigPath, "--when-enabled");
        Assert.Equal(0, off.ExitCode);
        Assert.Contains("FineTune: off", off.StdOut);
        Assert.False(Directory.Exists(Path.Combine(rig.Workspace, "fine_tune")));

        var interrupted = StageProcess.RunAndInterruptWhen("FineTune", () => File.Exists(Checkpoint(rig)), "--config", rig.ConfigPath);
        Assert.Equal(130, interrupted.ExitCode);
        Assert.Contains("fine-tune: interrupted", interrupted.StdErr);
        Assert.True(File.Exists(Checkpoint(rig)), "the checkpoint was lost");
        Assert.False(File.Exists(Manifest(rig)));
        rig.RunOk("FineTune");

        File.WriteAllText(Path.Combine(rig.Workspace, "fine_tune", "notes.txt"), "mine");
        var clean = StageProcess.Run("Ingest", "clean", "--config", rig.ConfigPath);
        Assert.True(clean.ExitCode == 0, clean.Output);
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(Path.Combine(rig.Workspace, "fine_tune")).Select(Path.GetFileName));
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "fine_tune.json")));
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "fine_tune_log.csv")));
        Assert.False(File.Exists(Path.Combine(rig.ReportsDir, "fine_tune_curve.png")));
    }

    private static float[] Values(TensorProto t) => t.DataType == (int)TensorProto.Types.DataType.Float ? OnnxTensorData.ReadFloats(t) : [];
}
