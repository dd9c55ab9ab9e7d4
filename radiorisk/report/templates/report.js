(function(){var d=document.documentElement,errs=[];
function note(m){errs.push(String(m));d.setAttribute('data-errors',errs.join(' | '));
d.setAttribute('data-errors-count',String(errs.length));}
d.setAttribute('data-errors-count','0');
window.addEventListener('error',function(e){note(e.message||('failed to load '+
((e.target&&(e.target.src||e.target.href))||'a resource')));},true);
window.addEventListener('load',function(){var im=document.images,ok=0;
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0){ok++;}}
d.setAttribute('data-images-total',String(im.length));d.setAttribute('data-scroll-width',String(d.scrollWidth));d.setAttribute('data-images-loaded',String(ok));
d.setAttribute('data-ready','1');});})();
