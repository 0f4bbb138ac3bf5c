console.log("resnest");
