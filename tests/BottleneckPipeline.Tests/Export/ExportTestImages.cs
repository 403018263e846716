using BottleneckPipeline.Head;
using BottleneckPipeline.Tests.Fixtures;
using BottleneckPipeline.Training;
using Microsoft.ML.OnnxRuntime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace BottleneckPipeline.Tests.Export;

/// <summary>Real flower photos and a noise image as CHW RGB 0..255 tensors, and ORT helpers for the reference path.</summary>
public static class ExportTestImages
{
    public static List<float[]> Load(int size, int perClass)
    {
        var images = new List<float[]>();
        foreach (var dir in Directory.GetDirectories(RepoPaths.Flowers).Order(StringComparer.Ordinal))
            foreach (var file in Directory.GetFiles(dir, "*.jpg").Order(StringComparer.Ordinal).Take(perClass))
            {
                using var image = Image.Load<Rgb24>(file);
                image.Mutate(x => x.Resize(size, size));
                images.Add(ToChw(image));
            }
        var random = new SeededRandom(99);
        images.Add(Enumerable.Range(0, 3 * size * size).Select(_ => (float)random.NextInt(256)).ToArray());
        return images;
    }

    private static float[] ToChw(Image<Rgb24> image)
    {
        var plane = image.Width * image.Height;
        var chw = new float[3 * plane];
        for (var y = 0; y < image.Height; y++)
            for (var x = 0; x < image.Width; x++)
            {
                var p = image[x, y];
                var k = y * image.Width + x;
                chw[k] = p.R;
                chw[plane + k] = p.G;
                chw[2 * plane + k] = p.B;
            }
        return chw;
    }

    /// <summary>Runs a single-input model on one image and returns the named output.</summary>
    public static float[] RunOne(InferenceSession session, string input, string output, float[] data, long[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(data, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [input], [value], [output]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public static SoftmaxHead RandomHead(int classes, int dim, double scale, long seed)
    {
        var r = new SeededRandom(seed);
        var w = Enumerable.Range(0, classes * dim).Select(_ => (float)(scale * r.NextGaussian())).ToArray();
        var b = Enumerable.Range(0, classes).Select(_ => (float)r.NextGaussian()).ToArray();
        return new SoftmaxHead(w, b, Enumerable.Range(0, classes).Select(c => $"label \"{c}\"").ToArray(), dim);
    }
}
