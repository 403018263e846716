// Classifies one image with model.onnx alone: ClassifyOne model.onnx photo.jpg
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

using var session = new InferenceSession(args[0]);
var metadata = session.ModelMetadata.CustomMetadataMap;
var labels = JsonSerializer.Deserialize<string[]>(metadata["labels"])!;
var size = int.Parse(metadata["input_size"]);

using var image = Image.Load<Rgb24>(args[1]);
image.Mutate(x => x.AutoOrient().Resize(new ResizeOptions
{
    Size = new Size(size, size),
    // "stretch": the whole image to size x size; "center-crop": the shorter side to size, then the centre.
    Mode = metadata["resize"] == "center-crop" ? ResizeMode.Crop : ResizeMode.Stretch,
    Position = AnchorPositionMode.Center,
    Sampler = KnownResamplers.Triangle,
}));

var pixels = new float[3 * size * size]; // CHW, RGB in 0..255: the model normalizes them itself
image.ProcessPixelRows(rows =>
{
    for (var y = 0; y < size; y++)
    {
        var row = rows.GetRowSpan(y);
        for (var x = 0; x < size; x++)
            (pixels[y * size + x], pixels[(size + y) * size + x], pixels[(2 * size + y) * size + x]) = (row[x].R, row[x].G, row[x].B);
    }
});

using var input = OrtValue.CreateTensorValueFromMemory(pixels, [1, 3, size, size]);
using var runOptions = new RunOptions();
using var outputs = session.Run(runOptions, ["pixels"], [input], ["probabilities"]);
var probabilities = outputs[0].GetTensorDataAsSpan<float>().ToArray();
var best = Array.IndexOf(probabilities, probabilities.Max());
Console.WriteLine($"{labels[best]} {probabilities[best]}");
