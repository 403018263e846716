using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Cache;
using BottleneckPipeline.Config;
using BottleneckPipeline.Index;
using BottleneckPipeline.Quantization;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace BottleneckPipeline.Bench;

/// <summary>
/// The int8 backbone (backbone.precision: int8) against float32, every ratio from this same run:
/// raw ONNX Runtime on the same pre-decoded batch (the default QLinearConv form, the QDQ form, a float32
/// stem), one Conv alone in both forms and both activation types (what
/// ORT's int8 kernel gives against its float one), each calibration method's validation
/// accuracy with the pipeline's real stages, Extract end to end, test accuracy, vector cosine,
/// Inception-v3 (zero weights: speed only) and PyTorch's oneDNN int8 where python3-torch is installed.
/// </summary>
public sealed class Int8Bench : IBenchmark
{
    public string Name => Area;

    // Each part of the run is an area of its own in results.md, so INT8_BENCH=part replaces only that part's rows.
    private const string Area = "int8";
    private const string ConvArea = "int8 conv", PipelineArea = "int8 pipeline", ExtractArea = "int8 extract",
        InceptionArea = "int8 inception", TorchArea = "int8 pytorch";

    private const int Batch = 8;

    public void Run(BenchContext ctx)
    {
        var root = Path.Combine(ctx.WorkDir, "int8");
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        Directory.CreateDirectory(root);
        // INT8_BENCH=conv,raw,pipeline,extract,inception,torch runs only those parts (for working on one);
        // calibration (the validation sweep of calibration choices) runs only when named.
        var parts = Environment.GetEnvironmentVariable("INT8_BENCH")?.Split(',').ToHashSet() ?? [];
        bool Part(string p) => parts.Count == 0 || parts.Contains(p);
        if (Part("conv")) SingleConv(ctx);
        var floatConfig = WriteConfig(ctx, root, "float32", "");
        Run(ctx, "Ingest", floatConfig, "float32");
        if (Part("raw")) Raw(ctx, root, floatConfig);
        if (Part("pipeline"))
        {
            var flowers = Pipeline(ctx, root, "float32");
            var methods = new Dictionary<CalibrationMethod, PipelineRun>();
            foreach (var method in Enum.GetValues<CalibrationMethod>())
            {
                var label = ConfigLoader.Snake(method.ToString(), '-');
                WriteConfig(ctx, root, label, $"  precision: int8\n  calibration: {label}\n");
                File.Copy(Path.Combine(root, "float32", "workspace", "index.sqlite"), Path.Combine(root, label, "workspace", "index.sqlite"));
                methods[method] = Pipeline(ctx, root, label);
            }
            Compare(ctx, root, flowers, methods);
        }
        if (parts.Contains("calibration")) Int8CalibrationSweep.Run(ctx, root, floatConfig);
        if (Part("extract")) EndToEnd(ctx, root, floatConfig);
        if (Part("inception")) Inception(ctx, root);
        if (Part("torch")) Torch(ctx, root, floatConfig);
    }

    // ---- raw inference ---------------------------------------------------------------------------

    /// <summary>The default recipe (built as Extract builds it, timed) against float32, the QDQ form and a
    /// float32 stem (those two quantized with the same calibration statistics), on the same batch.</summary>
    private static void Raw(BenchContext ctx, string root, string config)
    {
        var c = ConfigLoader.Load(config);
        var spec = BackboneFactory.Resolve(c);
        List<BottleneckPipeline.Embedding.ImageWork> sample;
        using (var db = IndexDb.Open(c.IndexPath, create: false))
            sample = QuantizedBackbone.CalibrationSample(db, c.Dataset.Root, c.Backbone.CalibrationImages);
        var calibration = CalibrationChoice.From(c.Backbone);
        var specs = new Dictionary<string, BackboneSpec> { ["float32"] = spec };
        Directory.CreateDirectory(Path.Combine(root, "models"));
        var path = Path.Combine(root, "models", "resnet18-default.onnx");
        var sw = Stopwatch.StartNew();
        QuantizedBackbone.Build(spec, sample, c.Dataset.MaxPixels, calibration, QuantizedBackbone.Recipe, path, CancellationToken.None);
        ctx.Record(Area, $"quantize resnet18 ({QuantizedBackbone.Recipe}, {calibration}, {sample.Count} calibration images)", sw.Elapsed.TotalSeconds, "s",
            $"model {new FileInfo(path).Length / 1e6:0.0} MB (float {new FileInfo(spec.ModelPath).Length / 1e6:0.0} MB)");
        specs[RawLabel(QuantizedBackbone.Recipe)] = QuantizedBackbone.Int8Spec(spec, path, "default");

        var optimized = FloatGraph.Optimized(spec);
        var statistics = Calibrator.Statistics(spec, optimized, QdqPlan.For(optimized.Graph, spec.BottleneckTensor), sample, c.Dataset.MaxPixels,
            ActivationStatistics.NeedsHistogram(calibration.Method), CancellationToken.None);
        foreach (var recipe in new[] { QuantizedBackbone.Recipe with { Form = Int8Form.Qdq }, QuantizedBackbone.Recipe with { FloatStem = true } })
        {
            var model = optimized.Clone();
            var plan = QdqPlan.For(model.Graph, spec.BottleneckTensor, recipe.FloatStem);
            QuantizedBackbone.Quantize(model, plan,
                plan.Tensors.ToDictionary(t => t, t => statistics[t].Range(calibration.Method, percentileTail: calibration.Tail)), recipe);
            var variant = Path.Combine(root, "models", $"resnet18-{recipe.Form}{(recipe.FloatStem ? "-float-stem" : "")}.onnx");
            File.WriteAllBytes(variant, model.ToByteArray());
            specs[RawLabel(recipe)] = QuantizedBackbone.Int8Spec(spec, variant, recipe.ToString());
        }
        var rounds = ctx.Quick ? 2 : 8;
        var rates = TimeInterleaved(specs, Tensors(spec, sample.Take(16)), ctx.Quick ? 24 : 48, rounds, paired: true);
        foreach (var (name, (rate, ratio)) in rates)
            ctx.Record(Area, $"raw ORT resnet18 {name}, batch {Batch}", rate, "img/s",
                name == "float32"
                    ? $"2 intra-op threads, pre-decoded tensors, median of {rounds * (rates.Count - 1)} runs"
                    : $"{ratio:0.00}x float32 (median of {rounds} adjacent pairs; goal 3x)");
    }

    private static string RawLabel(Int8Recipe recipe) => recipe == QuantizedBackbone.Recipe ? $"int8 ({recipe}: the default)" : $"int8 ({recipe})";

    /// <summary>Raw rates on the same tensors. Without <paramref name="paired"/>: best of <c>rounds</c>
    /// interleaved rounds. With it: each round times float32 (the first spec) and then each other model
    /// right after it, both without spinning threads (an idle session's spinning threads would take
    /// the cores from the next one), and a model's ratio is the median of its adjacent pairs' ratios:
    /// on shared cores whose load moves by the second, adjacent pairs are what compare.</summary>
    private static Dictionary<string, (double Rate, double Ratio)> TimeInterleaved(IReadOnlyDictionary<string, BackboneSpec> specs, float[] tensors, int count,
                                                                                  int rounds = 3, bool paired = false)
    {
        var sessions = specs.ToDictionary(kv => kv.Key, kv => BackboneSession.Create(kv.Value, threads: 0, allowSpinning: !paired));
        try
        {
            var first = specs.Values.First();
            var baseline = specs.Keys.First();
            foreach (var s in sessions.Values) Time(s, first, tensors, Batch);
            var rates = specs.Keys.ToDictionary(k => k, _ => new List<double>());
            var ratios = specs.Keys.ToDictionary(k => k, _ => new List<double>());
            for (var round = 0; round < rounds; round++)
            {
                if (!paired)
                {
                    foreach (var (name, session) in sessions) rates[name].Add(Time(session, first, tensors, count));
                    continue;
                }
                // The order rotates each round, so no model always comes first (identical graphs measured 15% apart with a fixed order).
                var others = specs.Keys.Skip(1).ToList();
                foreach (var name in others.Skip(round % others.Count).Concat(others.Take(round % others.Count)))
                {
                    var f = Time(sessions[baseline], first, tensors, count);
                    var q = Time(sessions[name], first, tensors, count);
                    rates[baseline].Add(f);
                    rates[name].Add(q);
                    ratios[name].Add(q / f);
                }
            }
            return specs.Keys.ToDictionary(k => k, k => paired
                ? (Median(rates[k]), k == baseline ? 1 : Median(ratios[k]))
                : (rates[k].Max(), rates[k].Max() / rates[baseline].Max()));
        }
        finally
        {
            foreach (var s in sessions.Values) s.Dispose();
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static double Time(BackboneSession session, BackboneSpec spec, float[] tensors, int count)
    {
        var available = tensors.Length / spec.ValuesPerImage;
        var chunk = tensors.AsSpan(0, Math.Min(Batch, available) * spec.ValuesPerImage).ToArray();
        var output = Array.Empty<float>();
        var sw = Stopwatch.StartNew();
        for (var done = 0; done < count; done += Batch) session.Run(chunk, Math.Min(Batch, available), ref output);
        return count / sw.Elapsed.TotalSeconds;
    }

    private static float[] Tensors(BackboneSpec spec, IEnumerable<BottleneckPipeline.Embedding.ImageWork> images)
    {
        var preparer = new BottleneckPipeline.Embedding.ImagePreparer(spec, long.MaxValue);
        var list = images.ToList();
        var tensors = new float[list.Count * spec.ValuesPerImage];
        for (var i = 0; i < list.Count; i++) preparer.Prepare(list[i], tensors.AsSpan(i * spec.ValuesPerImage, spec.ValuesPerImage));
        return tensors;
    }

    // ---- one Conv: ORT's int8 kernel against its float one ------------------------------------------

    /// <summary>A 3x3 Conv, 128 -> 128 channels on 28x28 (a mid-network ResNet layer), batch 8, float
    /// against its QDQ form: what ORT's int8 convolution gives over its float one, whatever the graph around it.</summary>
    private static void SingleConv(BenchContext ctx)
    {
        const int c = 128, hw = 28;
        var rng = new Random(7);
        var weights = new float[c * c * 9];
        for (var i = 0; i < weights.Length; i++) weights[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
        var input = new float[Batch * c * hw * hw];
        for (var i = 0; i < input.Length; i++) input[i] = (float)rng.NextDouble();
        var floatModel = ConvModel(weights, c, hw);
        var plan = QdqPlan.For(floatModel.Graph, "y");
        var flops = 2.0 * c * c * 9 * hw * hw * Batch;
        var models = new Dictionary<string, byte[]> { ["float32"] = floatModel.ToByteArray() };
        foreach (var form in Enum.GetValues<Int8Form>())
            foreach (var format in Enum.GetValues<QdqFormat>())
            {
                var q = floatModel.Clone();
                // Ranges as calibration would find them: the input is uniform in [0, 1); the output's from a float run.
                QdqQuantizer.Apply(q, QdqPlan.For(q.Graph, "y"), plan.Tensors.ToDictionary(t => t, t => t == "x" ? (0f, 1f) : (-6f, 6f)), format);
                // The graph output must be the dequantized copy: a Conv whose output is also a graph output is not fused.
                q.Graph.Output[0].Name = "y" + QdqQuantizer.Suffix + "_dq";
                if (form == Int8Form.Operator) OperatorForm.Apply(q.Graph);
                // ORT turns an S8 QDQ pair into U8 on x86 before fusing (QDQS8ToU8Transformer): S8S8 QDQ runs the U8S8 kernel.
                models[$"{format} {(form == Int8Form.Qdq ? "QDQ" : "QLinearConv")}"] = q.ToByteArray();
            }
        var best = models.Keys.ToDictionary(k => k, _ => 0.0);
        var sessions = models.ToDictionary(kv => kv.Key, kv => new InferenceSession(kv.Value, BackboneSession.Options(0, allowSpinning: true)));
        try
        {
            using var value = OrtValue.CreateTensorValueFromMemory(input, new long[] { Batch, c, hw, hw });
            string Output(string name) => name == "float32" ? "y" : "y" + QdqQuantizer.Suffix + "_dq";
            foreach (var (name, s) in sessions) s.Run(new RunOptions(), ["x"], [value], [Output(name)]).Dispose();
            var runs = ctx.Quick ? 5 : 20;
            for (var round = 0; round < 3; round++)
                foreach (var (name, s) in sessions)
                {
                    var sw = Stopwatch.StartNew();
                    for (var r = 0; r < runs; r++) s.Run(new RunOptions(), ["x"], [value], [Output(name)]).Dispose();
                    best[name] = Math.Max(best[name], runs * flops / sw.Elapsed.TotalSeconds / 1e9);
                }
        }
        finally
        {
            foreach (var s in sessions.Values) s.Dispose();
        }
        foreach (var (name, gops) in best)
            ctx.Record(ConvArea, $"one Conv 3x3 128->128 28x28 batch {Batch}, {name}", gops, "G op/s",
                name == "float32" ? "2 threads" : $"{gops / best["float32"]:0.00}x float32");
    }

    private static ModelProto ConvModel(float[] weights, int c, int hw)
    {
        var model = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "one_conv" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", Batch, c, hw, hw));
        g.Output.Add(Info("y", Batch, c, hw, hw));
        var w = new TensorProto
        {
            Name = "w",
            DataType = (int)TensorProto.Types.DataType.Float,
            RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(weights.AsSpan())),
        };
        w.Dims.AddRange([c, c, 3, 3]);
        var b = new TensorProto { Name = "b", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(new byte[4 * c]) };
        b.Dims.Add(c);
        g.Initializer.AddRange([w, b]);
        var conv = new NodeProto { OpType = "Conv", Name = "conv", Input = { "x", "w", "b" }, Output = { "y" } };
        conv.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
        g.Node.Add(conv);
        return model;
    }

    private static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    // ---- the pipeline, float32 and each calibration method -------------------------------------------

    private sealed record PipelineRun(string Label, string Config, string Workspace, double ExtractRate, double ExtractWall, double PeakRss,
                                      double ValidationAccuracy, double TestAccuracy, string Fingerprint, string ExportCheck);

    /// <summary>Ingest (once), Extract, TrainHead and Evaluate with the real executables, in a workspace of
    /// this label's own; every label shares one cache, as a user switching precision would.</summary>
    private static string WriteConfig(BenchContext ctx, string root, string label, string backbone)
    {
        var ws = Path.Combine(root, label);
        Directory.CreateDirectory(Path.Combine(ws, "workspace"));
        var config = Path.Combine(ws, "pipeline.yaml");
        var dataset = ctx.Quick ? Subset(ctx, root, 20) : ctx.Flowers;
        File.WriteAllText(config, $"dataset:\n  root: {dataset}\nworkspace: {ws}/workspace\ncache:\n  dir: {root}/cache\n" +
                                  (backbone.Length > 0 ? "backbone:\n" + backbone : ""));
        return config;
    }

    private PipelineRun Pipeline(BenchContext ctx, string root, string label)
    {
        var ws = Path.Combine(root, label);
        var config = Path.Combine(ws, "pipeline.yaml");
        var extract = Run(ctx, "Extract", config, label);
        Run(ctx, "TrainHead", config, label);
        Run(ctx, "Evaluate", config, label);
        var reports = Path.Combine(ws, "workspace", "reports");
        var e = JsonNode.Parse(File.ReadAllText(Path.Combine(reports, "extract.json")))!;
        var ev = JsonNode.Parse(File.ReadAllText(Path.Combine(reports, "evaluation.json")))!;
        var run = new PipelineRun(label, config, ws, e["images_per_second"]!.GetValue<double>(), extract.Seconds, extract.PeakRssMb,
            ev["head"]?["validation_accuracy"]?.GetValue<double>() ?? double.NaN, ev["accuracy"]!["value"]!.GetValue<double>(),
            e["fingerprint"]!.GetValue<string>(), ev["export"]?.ToJsonString() ?? "");
        ctx.Record(PipelineArea, $"{label}: Extract, {e["extracted"]} images (pipeline rate)", run.ExtractRate, "img/s",
            $"process {extract.Seconds:0.0} s (int8: including building the model), peak RSS {extract.PeakRssMb:0} MB");
        return run;
    }

    private static (double Seconds, string Output, double PeakRssMb, int ExitCode) Run(BenchContext ctx, string stage, string config, string label)
    {
        var r = BenchContext.RunProcess(ctx.StageBin(stage), $"--config {config}");
        if (r.ExitCode != 0) throw new InvalidOperationException($"{stage} ({label}) exited {r.ExitCode}: {r.Output}");
        return r;
    }

    private void Compare(BenchContext ctx, string root, PipelineRun f32, IReadOnlyDictionary<CalibrationMethod, PipelineRun> methods)
    {
        var floatCache = BottleneckCache.Open(Path.Combine(root, "cache"), f32.Fingerprint);
        ctx.Record(PipelineArea, "float32: head validation accuracy", 100 * f32.ValidationAccuracy, "%", $"test {100 * f32.TestAccuracy:0.0}%");
        foreach (var (method, run) in methods)
        {
            var (mean, min) = Cosine(floatCache, BottleneckCache.Open(Path.Combine(root, "cache"), run.Fingerprint));
            ctx.Record(PipelineArea, $"{run.Label}: head validation accuracy", 100 * run.ValidationAccuracy, "%",
                $"{100 * (run.ValidationAccuracy - f32.ValidationAccuracy):+0.0;-0.0;0.0} points vs float32 (test {100 * run.TestAccuracy:0.0}%); " +
                $"vector cosine with float32 mean {mean:0.0000}, min {min:0.0000}");
        }
        var chosen = methods[new BackboneConfig().Calibration];
        ctx.Record(PipelineArea, $"int8 ({chosen.Label}, the default): test accuracy", 100 * chosen.TestAccuracy, "%",
            $"float32 {100 * f32.TestAccuracy:0.0}%: {100 * (chosen.TestAccuracy - f32.TestAccuracy):+0.0;-0.0;0.0} points (goal within 0.5)");
        ctx.Record(PipelineArea, $"int8 ({chosen.Label}): Extract end to end", chosen.ExtractRate, "img/s",
            $"{chosen.ExtractRate / f32.ExtractRate:0.00}x float32 Extract ({f32.ExtractRate:0.0} img/s; goal 1.6x)");
        ctx.Note(PipelineArea, $"int8 export check: {chosen.ExportCheck}");
    }

    private static (double Mean, double Min) Cosine(BottleneckCache a, BottleneckCache b)
    {
        var va = new float[a.Dimension];
        var vb = new float[b.Dimension];
        double sum = 0, min = 1;
        var n = 0;
        foreach (var id in a.Keys)
        {
            if (!a.TryGet(id, va) || !b.TryGet(id, vb)) continue;
            var cos = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(va, vb);
            sum += cos;
            min = Math.Min(min, cos);
            n++;
        }
        return n == 0 ? (double.NaN, double.NaN) : (sum / n, min);
    }

    // ---- Extract end to end, float32 and int8 alternated ----------------------------------------------

    /// <summary>The Extract executable on the same 300 flowers, float32 and int8 in turn, twice, each run
    /// with an empty vector cache (the int8 model already built, as after a first run): the pipeline runs
    /// above are minutes apart on a machine whose load moves, these are seconds apart.</summary>
    private void EndToEnd(BenchContext ctx, string root, string floatConfig)
    {
        var subset = Subset(ctx, root, ctx.Quick ? 8 : 60);
        var best = new Dictionary<string, double> { ["float32"] = 0, ["int8"] = 0 };
        var rss = new Dictionary<string, double> { ["float32"] = 0, ["int8"] = 0 };
        for (var round = 0; round < 2; round++)
            foreach (var precision in best.Keys.ToList())
            {
                var dir = Path.Combine(root, $"e2e-{precision}-{round}");
                var config = Path.Combine(dir, "pipeline.yaml");
                Directory.CreateDirectory(dir);
                File.WriteAllText(config, $"dataset:\n  root: {subset}\nworkspace: {dir}/workspace\ncache:\n  dir: {dir}/cache\n" +
                                          $"backbone:\n  precision: {precision}\n");
                Run(ctx, "Ingest", config, "e2e");
                if (round > 0 && precision == "int8")
                    foreach (var m in Directory.GetFiles(QuantizedBackbone.ModelsDir(Path.Combine(root, $"e2e-int8-0", "cache"))))
                        File.Copy(m, Path.Combine(Directory.CreateDirectory(QuantizedBackbone.ModelsDir(Path.Combine(dir, "cache"))).FullName,
                            Path.GetFileName(m)));
                if (round == 0 && precision == "int8") Run(ctx, "Extract", config, "e2e build"); // builds the model: not what this measures
                if (round == 0 && precision == "int8")
                    Directory.Delete(Path.Combine(dir, "cache",
                        JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "workspace", "reports", "extract.json")))!["fingerprint"]!.GetValue<string>()),
                        recursive: true);
                var r = Run(ctx, "Extract", config, "e2e " + precision);
                var rate = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "workspace", "reports", "extract.json")))!["images_per_second"]!
                    .GetValue<double>();
                best[precision] = Math.Max(best[precision], rate);
                rss[precision] = Math.Max(rss[precision], r.PeakRssMb);
            }
        ctx.Record(ExtractArea, "Extract end to end, 300 flowers, float32", best["float32"], "img/s",
            $"best of 2, alternated with int8; peak RSS {rss["float32"]:0} MB");
        ctx.Record(ExtractArea, "Extract end to end, 300 flowers, int8", best["int8"], "img/s",
            $"{best["int8"] / best["float32"]:0.00}x float32 (goal 1.6x); peak RSS {rss["int8"]:0} MB");
    }

    // ---- Inception-v3 (zero weights: speed only) ------------------------------------------------------

    private void Inception(BenchContext ctx, string root)
    {
        if (!File.Exists(ctx.InceptionZeroWeights))
        {
            ctx.Note(InceptionArea, "inception zero-weights model not found; skipped");
            return;
        }
        var c = ConfigLoader.Load(Path.Combine(root, "float32", "pipeline.yaml"));
        var spec = BackboneFactory.Resolve(new BackboneConfig { Name = BackboneName.InceptionV3, Onnx = ctx.InceptionZeroWeights }, ResizeMode.Stretch);
        List<BottleneckPipeline.Embedding.ImageWork> sample;
        using (var db = IndexDb.Open(c.IndexPath, create: false))
            sample = QuantizedBackbone.CalibrationSample(db, c.Dataset.Root, 16);
        var path = Path.Combine(root, "models", "inception-v3.onnx");
        QuantizedBackbone.Build(spec, sample, c.Dataset.MaxPixels, CalibrationChoice.From(new BackboneConfig()), QuantizedBackbone.Recipe, path,
            CancellationToken.None);
        var rates = TimeInterleaved(new Dictionary<string, BackboneSpec> { ["float32"] = spec, ["int8"] = QuantizedBackbone.Int8Spec(spec, path, "int8") },
            Tensors(spec, sample.Take(8)), ctx.Quick ? 16 : 40);
        ctx.Record(InceptionArea, $"raw ORT inception-v3 (zero weights) int8, batch {Batch}", rates["int8"].Rate, "img/s",
            $"{rates["int8"].Ratio:0.00}x float32 ({rates["float32"].Rate:0.0} img/s); zero weights: speed only");
    }

    // ---- PyTorch oneDNN int8 (the peer) --------------------------------------------------------------

    private void Torch(BenchContext ctx, string root, string config)
    {
        var python = "/usr/bin/python3";
        var probe = File.Exists(python) ? BenchContext.RunProcess(python, "-c \"import torch, torchvision, onnx\"") : default;
        if (!File.Exists(python) || probe.ExitCode != 0)
        {
            ctx.Note(TorchArea, "skipped: Debian's python3-torch, python3-torchvision and python3-onnx are not installed");
            return;
        }
        var c = ConfigLoader.Load(config);
        var work = Directory.CreateDirectory(Path.Combine(root, "pytorch")).FullName;
        var script = Path.Combine(ctx.SharedData, "peers", "pytorch-finetune", "quantize.py");
        var models = Path.GetDirectoryName(Path.GetDirectoryName(BackboneFactory.EmbeddedResNet18Path)!)!;
        var env = $"env BP_INDEX={c.IndexPath} FLOWERS={c.Dataset.Root} PTFT_WORK={work} PTFT_RESULTS={work}/results " +
                  $"RESNET18_MODELS={PackageModels() ?? models}";
        var r = BenchContext.RunProcess("/usr/bin/env", $"{env[4..]} {python} {script} --engine onednn --speed-only --rounds 3");
        var json = Path.Combine(work, "results", "quantize_onednn.json");
        if (r.ExitCode != 0 || !File.Exists(json))
        {
            ctx.Note(TorchArea, $"the PyTorch peer failed (exit {r.ExitCode}): {r.Output[^Math.Min(400, r.Output.Length)..]}");
            return;
        }
        var median = JsonNode.Parse(File.ReadAllText(json))!["speed_b8"]!["median"]!;
        var int8 = median["int8"]!.GetValue<double>();
        var fp32 = median["fp32"]!.GetValue<double>();
        var ours = ctx.Results[Area]?[$"raw ORT resnet18 {RawLabel(QuantizedBackbone.Recipe)}, batch {Batch}"]?.GetValue<double>() ?? double.NaN;
        ctx.Record(TorchArea, "pytorch oneDNN int8 resnet18, batch 8", int8, "img/s",
            $"{int8 / fp32:0.00}x its float32 ({fp32:0.0}); " + (double.IsNaN(ours)
                ? "ours: not compared (INT8_BENCH without raw)"
                : $"ours raw int8 {ours:0.0} img/s = {ours / int8:0.00}x oneDNN (same run, separate process)"));
    }

    /// <summary>The ResNet-18 package's DnnImageModels folder in the NuGet cache, which the peer reads.</summary>
    private static string? PackageModels()
    {
        var home = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                   ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var dir = Path.Combine(home, "microsoft.ml.dnnimagefeaturizer.resnet18", "0.23.1", "tools", "DnnImageModels");
        return Directory.Exists(dir) ? dir : null;
    }

    private static string Subset(BenchContext ctx, string root, int perClass)
    {
        var dir = Path.Combine(root, $"flowers-{perClass}");
        if (Directory.Exists(dir)) return dir;
        foreach (var cls in Directory.GetDirectories(ctx.Flowers).Order(StringComparer.Ordinal))
        {
            var target = Directory.CreateDirectory(Path.Combine(dir, Path.GetFileName(cls))).FullName;
            foreach (var f in Directory.GetFiles(cls, "*.jpg").Order(StringComparer.Ordinal).Take(perClass))
                File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
        return dir;
    }
}
