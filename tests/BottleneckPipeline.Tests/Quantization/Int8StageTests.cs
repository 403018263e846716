using BottleneckPipeline.Quantization;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;
using Onnx;

namespace BottleneckPipeline.Tests.Quantization;

/// <summary>backbone.precision: int8 through the built stage executables, on the embedded ResNet-18 and real flowers.</summary>
[Trait("Category", "Faults")]
public class Int8StageTests
{
    private const string Int8 = "backbone:\n  precision: int8\n  calibration_images: 8";

    [Fact]
    public void The_int8_pipeline_runs_end_to_end_and_switching_precision_reuses_both_the_model_and_the_vectors()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 5, perClass: 6);
        var rig = new FaultRig(t["rig"], data, extraYaml: Int8);
        rig.RunOk("Ingest");
        var first = rig.RunOk("Extract");
        Assert.Contains("quantizing resnet18 to int8", first.StdOut, StringComparison.Ordinal);
        var int8Fingerprint = rig.Fingerprint;
        var model = QuantizedBackbone.PathFor(rig.CacheDir, int8Fingerprint);
        Assert.True(File.Exists(model), $"the quantized model {model} was not cached");
        Assert.Contains("resnet18 int8", rig.ExtractReport["backbone"]!.GetValue<string>(), StringComparison.Ordinal);
        var built = File.GetLastWriteTimeUtc(model);
        rig.RunOk("TrainHead");
        var evaluate = rig.RunOk("Evaluate");

        // The exported network is the int8 one, and the export check agreed with the cached int8 vectors.
        var report = rig.Evaluation();
        Assert.NotNull(report.Export);
        var exported = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(rig.Workspace, "model.onnx")));
        Assert.Contains(exported.Graph.Node, n => n.OpType == "QuantizeLinear");
        Assert.Contains(exported.Graph.Initializer, i => i.DataType == (int)TensorProto.Types.DataType.Int8);
        Assert.Equal(int8Fingerprint, report.Backbone.Fingerprint);

        // Float32 and back: each precision's vectors stay in the cache, and the model is not rebuilt.
        rig.WriteConfig();
        rig.RunOk("Extract");
        var floatFingerprint = rig.Fingerprint;
        Assert.NotEqual(int8Fingerprint, floatFingerprint);
        rig.WriteConfig(Int8);
        var again = rig.RunOk("Extract");
        Assert.DoesNotContain("quantizing", again.StdOut, StringComparison.Ordinal);
        Assert.Equal(0, rig.ExtractReport["extracted"]!.GetValue<int>());
        Assert.Equal(0, rig.ExtractReport["decoded"]!.GetValue<long>());
        Assert.Equal(int8Fingerprint, rig.Fingerprint);
        Assert.Equal(built, File.GetLastWriteTimeUtc(model));
        Assert.Single(Directory.GetFiles(QuantizedBackbone.ModelsDir(rig.CacheDir)));
        Assert.Contains("int8", evaluate.StdOut + File.ReadAllText(Path.Combine(rig.ReportsDir, "evaluation.md")), StringComparison.Ordinal);
    }

    [Fact]
    public void A_kill_while_quantizing_leaves_no_half_written_model()
    {
        using var t = new TempDir();
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 5);
        var rig = new FaultRig(t["rig"], data, extraYaml: Int8);
        rig.RunOk("Ingest");
        var models = QuantizedBackbone.ModelsDir(rig.CacheDir);
        // Killed the moment a file appears in the models folder: the model is being written.
        var r = StageProcess.RunAndKillWhen("Extract", _ => Directory.Exists(models) && Directory.GetFiles(models).Length > 0, "--config", rig.ConfigPath);
        Assert.True(r.Killed, "Extract finished before it could be killed while writing the model:\n" + r.Output);
        // Only the temporary (named by the dead writer's pid) or a whole model, never a partial one under the real name.
        foreach (var file in Directory.GetFiles(models).Where(f => f.EndsWith(".onnx", StringComparison.Ordinal)))
            ModelProto.Parser.ParseFrom(File.ReadAllBytes(file)); // throws on a truncated model

        var rerun = rig.RunOk("Extract");
        var model = QuantizedBackbone.PathFor(rig.CacheDir, rig.Fingerprint);
        var quantized = ModelProto.Parser.ParseFrom(File.ReadAllBytes(model));
        Assert.Contains(quantized.Graph.Node, n => n.OpType == "QuantizeLinear");
        Assert.Equal([model], Directory.GetFiles(models)); // the dead writer's temporary is gone
        Assert.Equal(10, rig.ExtractReport["extracted"]!.GetValue<int>() + rig.ExtractReport["reused"]!.GetValue<int>());
        Assert.Contains("int8", rerun.StdOut, StringComparison.Ordinal);
    }

    /// <summary>The deterministic form of the kill test: the model's write always fails part way (its
    /// 16 MB do not fit), where a kill may land before or after the write.</summary>
    [Fact]
    public void A_full_disk_while_writing_the_model_leaves_no_partial_model_and_a_rerun_builds_it()
    {
        using var t = new TempDir();
        using var fs = SmallFileSystem.Mount(t["cachefs"], kilobytes: 4096);
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 4), cacheDir: fs.Path, extraYaml: Int8);
        rig.RunOk("Ingest");
        var full = rig.Run("Extract");
        Assert.True(full.ExitCode == ExitCodes.BadInput, $"exited {full.ExitCode}:\n{full.Output}");
        Assert.Contains("disk is full", full.StdErr, StringComparison.Ordinal);
        var models = QuantizedBackbone.ModelsDir(fs.Path);
        Assert.Empty(Directory.Exists(models) ? Directory.GetFiles(models) : []);

        fs.Resize(kilobytes: 40 * 1024);
        rig.RunOk("Extract");
        Assert.Equal([QuantizedBackbone.PathFor(fs.Path, rig.Fingerprint)], Directory.GetFiles(models));
        Assert.Equal(8, rig.ExtractReport["extracted"]!.GetValue<int>());
    }

    [Fact]
    public void An_unknown_precision_exits_2_naming_the_key_and_line()
    {
        using var t = new TempDir();
        var rig = new FaultRig(t["rig"], TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 1), extraYaml: "backbone:\n  precision: int4");
        var line = File.ReadAllLines(rig.ConfigPath).ToList().FindIndex(l => l.Contains("int4", StringComparison.Ordinal)) + 1;
        var r = rig.Run("Extract");
        Assert.True(r.ExitCode == ExitCodes.BadConfig, $"exited {r.ExitCode}:\n{r.Output}");
        Assert.Contains($"{rig.ConfigPath}:{line}: key 'backbone.precision' = 'int4'", r.StdErr, StringComparison.Ordinal);
        Assert.Contains("float32, int8", r.StdErr, StringComparison.Ordinal);
        Assert.Single(r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("extract: error:", StringComparison.Ordinal));
        Assert.False(Directory.Exists(rig.Workspace));
    }
}
