using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Tests.Fixtures;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SixLabors.ImageSharp.PixelFormats;

namespace BottleneckPipeline.Tests.Backbones;

public class PreprocessingEquivalenceTests
{
    [Fact]
    public void Caffe_bgr_preset_equals_running_the_packages_ResNetPreprocess_onnx()
    {
        var spec = BackboneFactory.Resolve(new BackboneConfig(), ResizeMode.Stretch);
        var file = Directory.GetFiles(Directory.GetDirectories(RepoPaths.Flowers).Order().First(), "*.jpg").Order().First();
        using var image = ImageLoader.Decode(File.ReadAllBytes(file), 50_000_000);
        TensorWriter.Resize(image, 224, ResizeMode.Stretch);

        // The reference: the package's own preprocessing graph on the 0..255 RGB planar tensor.
        var rgb = new DenseTensor<float>([1, 3, 224, 224]);
        for (var y = 0; y < 224; y++)
            for (var x = 0; x < 224; x++)
            {
                Rgb24 p = image[x, y];
                rgb[0, 0, y, x] = p.R;
                rgb[0, 1, y, x] = p.G;
                rgb[0, 2, y, x] = p.B;
            }
        using var pre = new InferenceSession(BackboneFactory.EmbeddedResNetPreprocessPath);
        using var result = pre.Run([NamedOnnxValue.CreateFromTensor("OriginalInput", rgb)]);
        var expected = result.First().AsEnumerable<float>().ToArray();

        var ours = new float[spec.ValuesPerImage];
        TensorWriter.Write(image, spec.Preprocessing, spec.Layout, ours);

        Assert.Equal(expected.Length, ours.Length);
        var maxDiff = expected.Zip(ours, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff <= 1e-4, $"max difference {maxDiff}");
        Assert.Contains(expected, v => Math.Abs(v) > 1); // a real image, not zeros
    }

    [Fact]
    public void Inception_preset_maps_0_255_to_minus_1_1_and_nhwc_interleaves()
    {
        using var image = new SixLabors.ImageSharp.Image<Rgb24>(2, 1);
        image[0, 0] = new Rgb24(0, 255, 51);
        image[1, 0] = new Rgb24(255, 0, 102);
        var nchw = new float[6];
        TensorWriter.Write(image, Preprocessing.Inception(), TensorLayout.Nchw, nchw);
        Assert.Equal([-1f, 1f, 1f, -1f, -0.6f, -0.2f], nchw.Select(v => MathF.Round(v, 4)).ToArray());
        var nhwc = new float[6];
        TensorWriter.Write(image, Preprocessing.Inception(), TensorLayout.Nhwc, nhwc);
        Assert.Equal([-1f, 1f, -0.6f, 1f, -1f, -0.2f], nhwc.Select(v => MathF.Round(v, 4)).ToArray());
    }

    [Fact]
    public void Custom_mean_std_is_applied_per_rgb_channel()
    {
        var spec = BackboneFactory.Resolve(new BackboneConfig
        {
            Name = BackboneName.Custom,
            Onnx = BackboneFactory.EmbeddedResNet18Path,
            Normalization = NormalizationPreset.Custom,
            Mean = [0.5, 0.0, 1.0],
            Std = [0.25, 0.5, 1.0],
        }, ResizeMode.Stretch);
        using var image = new SixLabors.ImageSharp.Image<Rgb24>(1, 1);
        image[0, 0] = new Rgb24(255, 51, 0);
        var v = new float[3];
        TensorWriter.Write(image, spec.Preprocessing, TensorLayout.Nchw, v);
        // (1 - 0.5) / 0.25, (0.2 - 0) / 0.5, (0 - 1) / 1
        Assert.Equal([2f, 0.4f, -1f], v.Select(x => MathF.Round(x, 4)).ToArray());
    }
}
