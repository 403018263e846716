using System.Text.Json.Nodes;
using BottleneckPipeline.Artifacts;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Extract;
using BottleneckPipeline.Extract.Inspect;
using BottleneckPipeline.Index;
using BottleneckPipeline.Runtime;
using BottleneckPipeline.Tests.Fixtures;

namespace BottleneckPipeline.Tests.Extract;

/// <summary>`Extract inspect` on the two shared models, on an NHWC model made here, and on models fed
/// the wrong normalization; the real executable where the printed output or exit code is the point.</summary>
public class InspectTests
{
    /// <summary>A config over the shared flowers (only read) whose workspace does not exist.</summary>
    private static (string Path, PipelineConfig Config, string Workspace) Config(TempDir t, string backbone = "")
    {
        var config = TestIndex.Config(t["config"], RepoPaths.Flowers, extra: backbone);
        return (config.SourcePath, config, config.Workspace);
    }

    [Fact]
    public void Inspect_on_the_embedded_resnet18_shows_its_pooled_output_and_touches_no_workspace()
    {
        using var t = new TempDir();
        var (path, config, workspace) = Config(t);

        var run = StageProcess.Run("Extract", "inspect", "--config", path);

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("bottleneck    Pooling395_Output_0 [1,512,1,1]: 512 values per image", run.StdOut);
        Assert.Contains("the graph output: no Gemm/MatMul classifier feeds 'Pooling395_Output_0'", run.StdOut);
        Assert.Contains("input         Input247 float [1,3,224,224]", run.StdOut);
        Assert.Contains("layout        nchw (guessed from the input shape [1,3,224,224]: channels first)", run.StdOut);
        Assert.Contains("normalization caffe-bgr: BGR", run.StdOut);
        Assert.Contains("fingerprint   " + BackboneFactory.Resolve(config).Fingerprint, run.StdOut);
        Assert.Contains("Conv 22", run.StdOut);
        Assert.Contains("vector        first 8 of 512:", run.StdOut);
        Assert.Contains("ok: no sign of a wrongly fed model", run.StdOut);
        Assert.DoesNotContain("warning:", run.StdOut);
        Assert.False(Directory.Exists(workspace), "inspect must not create the workspace");
    }

    [Fact]
    public void Inspect_json_on_the_zero_weight_inception_finds_the_classifier_input_and_warns_of_its_zero_vector()
    {
        using var t = new TempDir();
        var (path, _, workspace) = Config(t, $"backbone:\n  name: inception-v3\n  onnx: {RepoPaths.InceptionZeroWeights}\n");

        var run = StageProcess.Run("Extract", "inspect", "--config", path, "--json");

        Assert.True(run.ExitCode == 0, run.Output);
        var json = JsonNode.Parse(run.StdOut)!;
        Assert.Equal("/Flatten_output_0", json["bottleneck"]!["tensor"]!.GetValue<string>());
        Assert.Equal(2048, json["bottleneck"]!["dimension"]!.GetValue<int>());
        Assert.StartsWith("the input of the final Gemm '/fc/Gemm' (the classifier, 2048 -> 1000)", json["bottleneck"]!["reason"]!.GetValue<string>());
        Assert.Equal(299, json["input"]!["size"]!.GetValue<int>());
        Assert.Equal("nchw", json["input"]!["layout"]!.GetValue<string>());
        Assert.StartsWith("inception: RGB, p / 127.5 - 1", json["input"]!["normalization"]!.GetValue<string>());
        Assert.Equal("logits", json["outputs"]![0]!["name"]!.GetValue<string>());
        Assert.Equal("[N,1000]", json["outputs"]![0]!["shape"]!.GetValue<string>());
        Assert.Equal(2048, json["vector"]!["dimension"]!.GetValue<int>());
        // Its weights are all zero, so is its vector: exactly what the warning is for.
        Assert.Equal(1.0, json["vector"]!["zero_share"]!.GetValue<double>());
        Assert.Contains("every value of the vector is 0", json["warnings"]![0]!.GetValue<string>());
        Assert.True(json["timing"]!["run_ms"]!.GetValue<double>() > 0);
        Assert.False(Directory.Exists(workspace));
    }

    [Fact]
    public void Nhwc_variant_is_reported_as_nhwc_and_extracts_the_same_vectors_as_the_nchw_original()
    {
        using var t = new TempDir();
        TestModels.WriteNhwcVariant(BackboneFactory.EmbeddedResNet18Path, t["resnet18-nhwc.onnx"]);
        var data = TestIndex.CopyFlowers(t["data"], classes: 2, perClass: 3);
        var nchw = TestIndex.Config(t["nchw"], data);
        var nhwc = TestIndex.Config(t["nhwc"], data, extra: $"backbone:\n  name: resnet18\n  onnx: {t["resnet18-nhwc.onnx"]}\n");

        var inspection = BackboneInspector.Inspect(nhwc);
        Assert.Equal("nhwc", inspection.Input.Layout);
        Assert.Equal("guessed from the input shape [1,224,224,3]: channels last", inspection.Input.LayoutFrom);
        Assert.Equal("[1,224,224,3]", inspection.Input.Shape);
        Assert.Contains(inspection.Ops, o => o.Op == "Transpose" && o.Count == 1);
        Assert.Equal(512, inspection.Bottleneck.Dimension);
        Assert.Empty(inspection.Warnings);

        var original = Extract(nchw);
        var variant = Extract(nhwc);
        Assert.NotEqual(original.Fingerprint, variant.Fingerprint); // different model bytes: different cache entries
        var a = BottleneckCache.Open(nchw.CacheDir, original.Fingerprint);
        var b = BottleneckCache.Open(nhwc.CacheDir, variant.Fingerprint);
        using var db = IndexDb.Open(nchw.IndexPath);
        var examples = ExtractStage.ReadExamples(db, data);
        Assert.Equal(6, examples.Count);
        foreach (var e in examples)
        {
            var x = a.Get(e.ContentId)!;
            var y = b.Get(e.ContentId)!;
            Assert.Equal(512, y.Length);
            var scale = x.Max(Math.Abs);
            Assert.True(scale > 1, "a real photo gives a real vector");
            var diff = x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
            Assert.True(diff <= 1e-4f * scale, $"{e.RelPath}: NHWC and NCHW vectors differ by {diff} (largest value {scale})");
        }
    }

    private static ExtractSummary Extract(PipelineConfig config)
    {
        using var db = IndexDb.Open(config.IndexPath);
        TestIndex.Fill(db, config.Dataset.Root);
        var summary = ExtractStage.Run(config, db);
        Assert.Equal(6, summary.Extracted);
        return summary;
    }

    [Fact]
    public void Inception_normalization_on_a_model_that_expects_0_to_255_prints_the_zero_warning()
    {
        using var t = new TempDir();
        TestModels.WriteExpects0To255(t["expects-0-255.onnx"]);
        var (path, _, _) = Config(t, $"backbone:\n  name: custom\n  onnx: {t["expects-0-255.onnx"]}\n  normalization: inception\n");

        var run = StageProcess.Run("Extract", "inspect", "--config", path);

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("zeros 100.0%", run.StdOut);
        Assert.Contains("warning: every value of the vector is 0", run.StdOut);
        Assert.Contains("check 'backbone.normalization' (now inception)", run.StdOut);
    }

    [Fact]
    public void Zero_centred_normalization_on_a_model_defined_only_for_non_negative_input_warns_of_NaN()
    {
        using var t = new TempDir();
        TestModels.WriteExpectsNonNegative(t["sqrt.onnx"]);
        var (_, config, _) = Config(t, $"backbone:\n  name: custom\n  onnx: {t["sqrt.onnx"]}\n  normalization: imagenet\n");

        var inspection = BackboneInspector.Inspect(config);

        Assert.Equal(3, inspection.Vector.NonFinite);
        Assert.True(double.IsNaN(inspection.Vector.Norm));
        Assert.Contains("3 of the 3 values are NaN or infinite", Assert.Single(inspection.Warnings));
        var json = JsonNode.Parse(InspectionWriter.Json(inspection))!;
        Assert.Equal("NaN", json["vector"]!["norm"]!.GetValue<string>());
        Assert.Equal(3, json["vector"]!["non_finite"]!.GetValue<int>());
    }

    [Theory]
    [InlineData("expects-0-255")]
    [InlineData("sqrt")]
    public void The_normalization_each_model_expects_gives_no_warning(string model)
    {
        using var t = new TempDir();
        var file = t[model + ".onnx"];
        if (model == "sqrt") TestModels.WriteExpectsNonNegative(file);
        else TestModels.WriteExpects0To255(file);
        // mean 0, std 1/255: the pixels on their own 0..255 scale.
        var (_, config, _) = Config(t, $"backbone:\n  name: custom\n  onnx: {file}\n  normalization: custom\n  mean: [0, 0, 0]\n" +
                                       "  std: [0.00392156862745098, 0.00392156862745098, 0.00392156862745098]\n");

        var inspection = BackboneInspector.Inspect(config);

        Assert.Empty(inspection.Warnings);
        Assert.Equal(0, inspection.Vector.NonFinite);
        Assert.True(inspection.Vector.Norm > 1);
        Assert.False(inspection.Vector.SameForGray);
    }

    [Fact]
    public void A_layout_the_model_does_not_take_exits_3_with_one_line_naming_the_key()
    {
        using var t = new TempDir();
        TestModels.WriteExpects0To255(t["m.onnx"]);
        var (path, _, workspace) = Config(t, $"backbone:\n  name: custom\n  onnx: {t["m.onnx"]}\n  layout: nhwc\n");

        var run = StageProcess.Run("Extract", "inspect", "--config", path);

        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        var line = Assert.Single(run.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("extract: error: backbone model ", line);
        Assert.Contains("'backbone.layout' (nhwc): the model may be nchw", line);
        Assert.False(Directory.Exists(workspace));
    }

    [Fact]
    public void An_input_size_the_model_does_not_take_is_a_user_error_naming_the_keys()
    {
        using var t = new TempDir();
        TestModels.WriteExpects0To255(t["m.onnx"]);
        var (_, config, _) = Config(t, $"backbone:\n  name: custom\n  onnx: {t["m.onnx"]}\n  input_size: 16\n");

        var e = Assert.Throws<InputException>(() => BackboneInspector.Inspect(config));

        Assert.Contains("[1,3,16,16]", e.Message);
        Assert.Contains("'backbone.input_size'", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }
}
