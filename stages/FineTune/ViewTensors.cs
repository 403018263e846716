using System.Security.Cryptography;
using BottleneckPipeline.Backbones;
using BottleneckPipeline.Config;
using BottleneckPipeline.Imaging;
using BottleneckPipeline.Runtime;

namespace BottleneckPipeline.FineTune;

/// <summary>
/// An image file to the backbone's input tensor for one view: read, checked against its content id,
/// decoded, augmented (<see cref="ViewAugmentation"/>), resized and normalized exactly as Extract
/// prepares images, so view 0 is the very input Extract embedded.
/// </summary>
internal sealed class ViewTensors(BackboneSpec spec, PipelineConfig config)
{
    public int ValuesPerImage => spec.ValuesPerImage;

    public void Write(FineTuneExample example, int view, Span<float> dest)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(example.Path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InputException(
                $"cannot read {example.Path}: {e.Message}. Restore the file, or re-run Ingest and Extract (make) if it was removed on purpose.", e);
        }
        if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(bytes)), example.ContentId, StringComparison.Ordinal))
            throw new InputException(
                $"{example.Path} changed since it was ingested. Re-run the pipeline (make fine-tune): Ingest and Extract pick up the new version.");
        try
        {
            using var image = ImageLoader.Decode(bytes, config.Dataset.MaxPixels);
            ViewAugmentation.Apply(image, config.FineTune.Augment, config.FineTune.Seed, example.ContentId, view);
            TensorWriter.Resize(image, spec.InputSize, spec.Resize);
            TensorWriter.Write(image, spec.Preprocessing, spec.Layout, dest);
        }
        catch (ImageRejectedException e)
        {
            throw new InputException($"{example.Path} no longer decodes ({e.Message}). Re-run the pipeline (make fine-tune) so Extract quarantines it.", e);
        }
    }
}
